"""The image and the deployment, checked on the host: no container runtime runs here
(the docker client is installed, no daemon), so the Dockerfile is parsed, the compose
file read and its settings fed to the service's own configuration code, and the
image's HEALTHCHECK script run against real servers."""
from __future__ import annotations

import fnmatch
import http.server
import re
import runpy
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from service.log import from_env

ROOT = Path(__file__).resolve().parents[1]
COMPILERS = ("gcc", "g++", "cc", "clang", "build-essential", "libc6-dev", "python3-dev")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def stages(text: str) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list] = {}
    current = None
    for op, args in instructions(text):
        if op == "FROM":
            words = args.split()
            current = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(found))
            found[current] = []
        found[current].append((op, args))
    return found


@pytest.fixture(scope="module")
def dockerfile():
    return stages((ROOT / "Dockerfile").read_text())


def test_the_image_is_built_in_two_stages_and_the_final_one_has_no_compiler(dockerfile):
    assert list(dockerfile) == ["build", "runtime"]
    build, runtime = dockerfile["build"], dockerfile["runtime"]
    assert any(op == "RUN" and "gcc" in args and "apt-get install" in args for op, args in build)
    assert any(op == "RUN" and "vendor/durable_rules/build.py" in args for op, args in build)
    for op, args in runtime:
        assert op != "RUN" or not any(re.search(rf"(^|\s){re.escape(c)}(\s|$)", args) for c in COMPILERS), args
        assert not (op == "RUN" and "apt-get install" in args)
    copied_from_build = [args for op, args in runtime if op == "COPY" and args.startswith("--from=build")]
    assert any("/opt/venv" in args for args in copied_from_build)
    assert all(args.startswith("--from=") for op, args in runtime if op == "COPY"), "the final stage copies built files only"


def test_the_final_stage_runs_as_a_user_that_owns_the_log_volume(dockerfile):
    runtime = dockerfile["runtime"]
    users = [i for i, (op, _) in enumerate(runtime) if op == "USER"]
    assert users, "no USER: the service would run as root"
    user = runtime[users[-1]][1].strip()
    assert user not in ("root", "0") and not user.startswith("0:")
    volumes = [args for op, args in runtime if op == "VOLUME"]
    assert volumes == ["/app/data"]
    owned = [args for op, args in runtime[:users[-1]] if op == "RUN" and re.search(rf"chown\s+{user}(:\S+)?\s+/app/data", args)]
    assert owned, "the volume's directory must belong to the runtime user before the volume is declared"
    assert any(op == "RUN" and "useradd" in args and user in args for op, args in runtime)
    env = " ".join(args for op, args in runtime if op == "ENV")
    assert "RAC_DECISION_LOG=/app/data/" in env


def test_the_healthcheck_asks_readiness_at_binds_port(dockerfile):
    runtime = dockerfile["runtime"]
    (check,) = [args for op, args in runtime if op == "HEALTHCHECK"]
    assert '"scripts/healthcheck.py"' in check
    copied = " ".join(args for op, args in runtime if op == "COPY")
    assert "scripts/healthcheck.py" in copied
    assert "/readyz" in (ROOT / "scripts" / "healthcheck.py").read_text()
    (command,) = [args for op, args in runtime if op == "CMD"]
    assert command == '["gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"]'


def _matches(path: str, pattern: str) -> bool:
    parts = path.split("/")
    if pattern.startswith("**/"):  # at any depth
        return any(fnmatch.fnmatchcase("/".join(parts[i:j]), pattern[3:])
                   for i in range(len(parts)) for j in range(i + 1, len(parts) + 1))
    return any(fnmatch.fnmatchcase("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1))


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, for the patterns this repository uses: the last pattern that matches
    the path or a folder above it decides; ``!`` sends it after all."""
    verdict = False
    for pattern in patterns:
        if _matches(path, pattern.lstrip("!")):
            verdict = not pattern.startswith("!")
    return verdict


def test_dockerignore_sends_what_the_build_copies_and_nothing_local(dockerfile):
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = []
    for op, args in dockerfile["build"]:
        if op == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources += words[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source.rstrip("/"), patterns), source
    for inner in ("service/http/app.py", "rulesets/qz-htz/2021-12-30.yaml", "vendor/durable_rules/build.py"):
        assert not ignored(inner, patterns), inner
    for local in (".venv/bin/python", "data/decisions.sqlite3", ".git/HEAD", "tests/test_api.py",
                  "service/__pycache__/app.cpython-311.pyc", "vendor/durable_rules/.cache/x.tar.gz", "bench/common.py"):
        assert ignored(local, patterns), local


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolated(value: str, environ: dict) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}."""
    def one(match):
        name, how, word = match.group(1), match.group(2), match.group(3)
        if name in environ and environ[name]:
            return environ[name]
        if how == ":-":
            return word
        raise KeyError(f"{name}: {word}")
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def test_compose_runs_the_service_on_postgresql(compose):
    assert set(compose["services"]) == {"db", "service"}
    db, service = compose["services"]["db"], compose["services"]["service"]
    assert db["image"].startswith("postgres:")
    assert service["depends_on"]["db"]["condition"] == "service_healthy"
    assert service["build"] == "."
    assert "pgdata" in compose["volumes"]
    environ = {name: interpolated(str(v), {"POSTGRES_PASSWORD": "s3cret"}) for name, v in service["environment"].items()}
    assert {"BIND", "DATABASE_URL", "WORKERS", "THREADS", "PROMETHEUS_MULTIPROC_DIR", "RAC_API_KEYS_FILE"} <= set(environ)
    # off loopback the service starts only with credentials: the key store is a secret, mounted where it is read
    assert service["secrets"] == ["api_keys"] and "api_keys" in compose["secrets"]
    assert environ["RAC_API_KEYS_FILE"] == "/run/secrets/api_keys"
    log = from_env(environ)  # the service's own reading of the settings (nothing is connected to)
    assert log.backend.name == "postgresql"
    assert "s3cret" not in log.backend.describe()
    assert environ["DATABASE_URL"].split("@")[1] == f"db:5432/{db['environment']['POSTGRES_DB']}"
    assert any(str(t).startswith(environ["PROMETHEUS_MULTIPROC_DIR"]) for t in service["tmpfs"])
    with pytest.raises(KeyError):  # no password, no deployment
        interpolated(str(service["environment"]["DATABASE_URL"]), {})


def test_compose_settings_make_a_gunicorn_configuration(compose, monkeypatch, tmp_path):
    environment = compose["services"]["service"]["environment"]
    for name, v in environment.items():
        monkeypatch.setenv(name, interpolated(str(v), {"POSTGRES_PASSWORD": "s3cret"}))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the container's tmpfs, here
    for name in ("GX_RULES_METRICS_STARTED_BY", "GX_RULES_METRICS_STARTED_BY_MADE", "RAC_CONTROL_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["bind"] == "0.0.0.0:8080" and conf["workers"] == 2 and conf["threads"] == 32
    assert conf["metrics_dir"] == str(tmp_path)
    assert conf["control_socket"].endswith("gx-rules-0.0.0.0_8080.ctl")


# -- the HEALTHCHECK script, on the host ----------------------------------------------------------

class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    asked: list[str] = []

    def do_GET(self):
        type(self).asked.append(self.path)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(status: int):
    handler = type("Handler", (_Answer,), {"status": status, "asked": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


def healthcheck(bind: str) -> int:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "healthcheck.py")], env={"BIND": bind},
                          capture_output=True, timeout=20).returncode


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_the_healthcheck_follows_readyz_on_a_wildcard_bind(status, healthy):
    server, handler = serve(status)
    try:
        port = server.server_address[1]
        assert (healthcheck(f"0.0.0.0:{port}") == 0) is healthy
        assert healthcheck(f":{port}") == (0 if healthy else 1)
        assert handler.asked == ["/readyz", "/readyz"]
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_fails_when_nothing_listens():
    server, _ = serve(200)
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    assert healthcheck(f"127.0.0.1:{port}") == 1


def test_the_healthcheck_reaches_a_wildcard_ipv6_bind_on_loopback():
    readyz_url = runpy.run_path(str(ROOT / "scripts" / "healthcheck.py"))["readyz_url"]
    assert readyz_url("[::]:8080") == "http://[::1]:8080/readyz"
    assert readyz_url("10.0.0.5:9000") == "http://10.0.0.5:9000/readyz"


def test_compose_settings_pass_the_start_up_rule_only_with_the_key_store(compose, tmp_path):
    """The service binds 0.0.0.0 in the container: it starts with the secret key store, and refuses without it."""
    from service.auth.apikeys import hash_entry, make_key
    from service.auth.startup import StartRefused, check_start

    environ = {name: interpolated(str(v), {"POSTGRES_PASSWORD": "s3cret"})
               for name, v in compose["services"]["service"]["environment"].items()}
    store = tmp_path / "api_keys"  # /run/secrets/api_keys in the container
    store.write_text(yaml.safe_dump([hash_entry("scraper", ["auditor"], make_key())]))
    notices = check_start(dict(environ, RAC_API_KEYS_FILE=str(store)))
    assert any("1 API key" in line for _, line in notices)
    with pytest.raises(StartRefused):
        check_start({k: v for k, v in environ.items() if k != "RAC_API_KEYS_FILE"})
