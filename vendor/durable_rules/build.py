#!/usr/bin/env python3
"""Build and install the server-safe durable_rules into the running interpreter.

Usage:  python vendor/durable_rules/build.py

Steps: download the pinned PyPI sdist durable_rules==2.0.28 (cached in
vendor/durable_rules/.cache/), check its sha256, unpack it into a temporary
directory, apply server.patch, build it with gcc and install it with
`python -m pip install --no-deps --no-build-isolation`, then check that
durable_rules 2.0.28+server.1 is what the interpreter now imports.

The version string stays 2.0.28+server.1 when server.patch changes, so the
build also installs durable/_server_patch.py holding the sha256 of the
server.patch it was built with. Does nothing if that version, built from this
very server.patch, is already installed; rebuilds (--force-reinstall) if it was
built from another one. Uses only the standard library (and pip). Exits
non-zero with a message on any failure.
"""

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DIST = "durable_rules"
UPSTREAM_VERSION = "2.0.28"
TARGET_VERSION = "2.0.28+server.1"
SDIST_NAME = f"{DIST}-{UPSTREAM_VERSION}.tar.gz"
# sha256 of durable_rules-2.0.28.tar.gz as served by PyPI.
SDIST_SHA256 = "053b26f5e48d312d4fa27995243f954671be6eece477f150c059c364eb4d7d61"

HERE = Path(__file__).resolve().parent
PATCH = HERE / "server.patch"
CACHE = HERE / ".cache"
# Installed with the package: which server.patch the build was made from.
MARKER = "_server_patch.py"

PREFIX = "[durable_rules build]"


class BuildError(Exception):
    pass


def log(msg):
    print(f"{PREFIX} {msg}", flush=True)


def run(cmd, cwd=None, env=None, what=None):
    """Run a command, echoing it; raise BuildError with its output on failure."""
    log("$ " + " ".join(str(c) for c in cmd))
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if proc.returncode != 0:
        raise BuildError(
            f"{what or 'command'} failed (exit {proc.returncode}): "
            f"{' '.join(str(c) for c in cmd)}\n{proc.stdout.rstrip()}"
        )
    return proc.stdout


def installed_version():
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


def installed_patch_sha256():
    """sha256 of the server.patch the installed build was made from, or None."""
    try:
        files = importlib.metadata.files(DIST) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == MARKER and f.parent.name == "durable":
            try:
                text = f.locate().read_text(encoding="utf-8")
            except OSError:
                return None
            for line in text.splitlines():
                if line.startswith("PATCH_SHA256 = "):
                    return line.split("=", 1)[1].strip().strip('"')
    return None


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pip(*args, what):
    return run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], what=what)


def ensure_build_tools():
    missing = []
    for mod, req in (("setuptools", "setuptools>=61"), ("wheel", "wheel")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(req)
    if missing:
        log(f"installing build requirements into {sys.prefix}: {', '.join(missing)}")
        pip("install", *missing, what="installing build requirements")


def fetch_sdist():
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / SDIST_NAME
    if sdist.exists() and sha256_of(sdist) != SDIST_SHA256:
        log(f"cached {sdist.name} has the wrong sha256; downloading it again")
        sdist.unlink()
    if not sdist.exists():
        pip("download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
            "--dest", CACHE, f"{DIST}=={UPSTREAM_VERSION}",
            what=f"downloading the {DIST}=={UPSTREAM_VERSION} sdist")
    if not sdist.exists():
        found = sorted(p.name for p in CACHE.iterdir())
        raise BuildError(f"pip download did not produce {sdist} (cache holds: {found})")
    digest = sha256_of(sdist)
    if digest != SDIST_SHA256:
        bad = sdist.with_name(sdist.name + ".bad")
        sdist.replace(bad)
        raise BuildError(
            f"sha256 mismatch for {sdist.name}: got {digest}, expected {SDIST_SHA256} "
            f"(file moved to {bad})"
        )
    log(f"sdist {sdist} sha256 OK")
    return sdist


def unpack(sdist, dest):
    with tarfile.open(sdist, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python without extraction filters: refuse unsafe members ourselves
            root = Path(dest).resolve()
            for member in tar.getmembers():
                target = (root / member.name).resolve()
                if root not in target.parents and target != root:
                    raise BuildError(f"unsafe path in sdist: {member.name}")
                if member.issym() or member.islnk():
                    raise BuildError(f"unexpected link in sdist: {member.name}")
            tar.extractall(dest)
    src = Path(dest) / f"{DIST}-{UPSTREAM_VERSION}"
    if not (src / "setup.py").is_file():
        raise BuildError(f"unexpected sdist layout: {src / 'setup.py'} not found")
    return src


def apply_patch(src):
    if not PATCH.is_file():
        raise BuildError(f"patch file not found: {PATCH}")
    if shutil.which("patch"):
        # --fuzz=0: every hunk must match exactly; --forward: never reverse.
        cmd = ["patch", "-p1", "--forward", "--batch", "--fuzz=0", "-i", PATCH]
        env = None
    elif shutil.which("git"):
        cmd = ["git", "apply", "-p1", "--verbose", PATCH]
        # Keep git from discovering an enclosing repository.
        env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(src.parent))
    else:
        raise BuildError("neither `patch` nor `git` is available to apply server.patch")
    out = run(cmd, cwd=src, env=env, what=f"applying {PATCH.name}")
    leftovers = [p for p in src.rglob("*") if p.suffix in (".rej", ".orig")]
    if leftovers or "offset" in out or "fuzz" in out.lower():
        raise BuildError(f"{PATCH.name} did not apply cleanly:\n{out}")
    log(f"applied {PATCH.name}")
    marker = src / "libpy" / "durable" / MARKER
    marker.write_text(
        f'"""Written by vendor/durable_rules/build.py: the server.patch of this build."""\n'
        f'PATCH_SHA256 = "{sha256_of(PATCH)}"\n',
        encoding="utf-8",
    )


def check_installed():
    """Check the result in a fresh interpreter (no stale import state)."""
    code = (
        "import importlib.metadata as m, durable_rules_engine, durable.engine, durable._server_patch as p; "
        f"print(m.version({DIST!r}) + ' ' + p.PATCH_SHA256)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tempfile.gettempdir(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    got = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or got != f"{TARGET_VERSION} {sha256_of(PATCH)}":
        raise BuildError(
            f"post-install check failed: expected {DIST} {TARGET_VERSION} built from "
            f"{PATCH.name} sha256 {sha256_of(PATCH)} importable, "
            f"got exit {proc.returncode}:\n{proc.stdout.rstrip()}"
        )


def main():
    current = installed_version()
    patch_sha256 = sha256_of(PATCH) if PATCH.is_file() else None
    if current == TARGET_VERSION:
        built_from = installed_patch_sha256()
        if built_from is not None and built_from == patch_sha256:
            log(f"{DIST} {TARGET_VERSION} already installed in {sys.prefix}; nothing to do")
            return 0
        log(f"{DIST} {TARGET_VERSION} in {sys.prefix} was built from "
            f"{'another' if built_from else 'an unrecorded'} {PATCH.name}; rebuilding")
    log(f"{DIST} installed: {current or 'none'}; building {TARGET_VERSION} "
        f"for {sys.executable} (Python {sys.version.split()[0]})")

    if not shutil.which(os.environ.get("CC", "gcc")):
        raise BuildError("a C compiler is required (gcc not found on PATH)")

    ensure_build_tools()
    sdist = fetch_sdist()
    with tempfile.TemporaryDirectory(prefix="durable_rules-build-") as tmp:
        src = unpack(sdist, tmp)
        apply_patch(src)
        pip("install", "--no-deps", "--no-build-isolation", "--no-cache-dir", "--force-reinstall", src,
            what=f"building and installing patched {DIST}")

    check_installed()
    log(f"installed {DIST} {TARGET_VERSION} into {sys.prefix}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as exc:
        print(f"{PREFIX} ERROR: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
