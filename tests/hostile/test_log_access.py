"""Reading the decision log needs no write access: a lookup and ``verify`` on a
log file (and directory) made read-only work and change nothing. Root ignores file
modes, so under root the file and its directory are also made immutable
(``chattr +i``), which binds root too; skipped where that is not permitted."""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from service.http.app import create_app

from tests.helpers import qz_case
from tests.hostile.ops_support import ROOT



def _digest(directory: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture
def read_only_log(decider, monkeypatch):
    directory = Path(tempfile.mkdtemp(prefix="rac-ro-"))
    path = directory / "decisions.sqlite3"
    monkeypatch.setenv("RAC_DECISION_LOG", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app(decider)
    client = app.test_client()
    case = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}])
    ids = [client.post("/v1/decisions", json=dict(case, case_id=f"RO-{i}")).get_json()["decision_id"] for i in range(3)]
    app.extensions["decision_log"].close()
    os.chmod(path, 0o444)
    os.chmod(directory, 0o555)
    frozen = os.geteuid() == 0
    if frozen and subprocess.run(["chattr", "+i", str(path), str(directory)], capture_output=True).returncode:
        os.chmod(directory, 0o755)
        shutil.rmtree(directory)
        pytest.skip("running as root and chattr +i is not permitted: root would write the read-only file anyway")
    try:
        yield path, ids
    finally:
        if frozen:
            subprocess.run(["chattr", "-i", str(path), str(directory)], check=True)
        os.chmod(directory, 0o755)
        shutil.rmtree(directory)


def _run(*args):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", HOME="/tmp")
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_lookup_and_verify_on_a_read_only_log(read_only_log):
    path, ids = read_only_log
    before = _digest(path.parent)
    lookup = _run("-c", "import sys; from service.log import open_log; "
                        "r = open_log(sys.argv[1], read_only=True).get(sys.argv[2]); print(r.seq, r.decision_id)",
                  str(path), ids[1])
    assert lookup.returncode == 0, lookup.stderr
    assert lookup.stdout.split() == ["2", ids[1]]
    verify = _run("-m", "service", "verify", "--no-replay", "--database", str(path))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "3 record(s) chain checked" in verify.stdout and ": ok" in verify.stdout
    assert _digest(path.parent) == before  # nothing created, nothing altered
    assert not stat.S_IMODE(os.stat(path).st_mode) & 0o222


def test_a_read_only_log_cannot_be_appended_to(read_only_log):
    path, _ = read_only_log
    append = _run("-c", "import sys; from service.log import open_log, LogError\n"
                        "log = open_log(sys.argv[1])\n"
                        "try:\n    log.append({}, {'decision_id': 'x'})\nexcept LogError as e:\n    print('refused')\n"
                        "print(log.ready() is not None)", str(path))
    assert append.returncode == 0, append.stderr
    assert append.stdout.split() == ["refused", "True"]
