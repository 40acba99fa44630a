"""Signed checkpoints of the decision log: the Merkle tree (RFC 6962 test vectors,
proofs against a naive tree), C2SP signed notes, the HTTP routes, and
``verify --checkpoint`` detecting a truncated, rewritten, forked log and an
appended forged record (each of which plain ``verify`` passes), on SQLite and
on PostgreSQL when TEST_DATABASE_URL is set; the standalone proof script."""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import pytest

pytest.importorskip("cryptography", reason="signed checkpoints need the cryptography package")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from service.cli import main as cli  # noqa: E402
from service.http.app import create_app  # noqa: E402
from service.log import merkle, record_hash  # noqa: E402
from service.log.note import NoteError, load_signer, load_verifier, open_note, parse_checkpoint, read_checkpoint  # noqa: E402
from service.paths import ROOT  # noqa: E402
from tests.test_log import BACKENDS, close_log, hte_case, post, target  # noqa: E402,F401

SCRIPT = ROOT / "scripts" / "verify_proof.py"


# -- the tree --

# RFC 6962 reference inputs and the roots of their first 1..8 leaves (certificate-transparency's tests)
CT_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]


def _built(leaves):
    nodes, frontier = {}, merkle.Frontier()
    for leaf in leaves:
        for level, index, node in frontier.append(leaf):
            nodes[(level, index)] = node
    return frontier, merkle.Tree(lambda level, index: nodes[(level, index)])


def _naive_root(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_naive_root(leaves[:k]), _naive_root(leaves[k:]))


def test_rfc6962_reference_roots():
    leaves = [merkle.leaf_hash(data) for data in CT_LEAVES]
    frontier = merkle.Frontier()
    for size, leaf in enumerate(leaves, 1):
        frontier.append(leaf)
        assert frontier.root().hex() == CT_ROOTS[size - 1]
    _, tree = _built(leaves)
    assert [tree.root(0, n).hex() for n in range(1, 9)] == CT_ROOTS
    assert merkle.EMPTY_ROOT.hex() == hashlib.sha256(b"").hexdigest()


def test_every_inclusion_and_consistency_proof_verifies_and_a_wrong_one_does_not():
    leaves = [merkle.leaf_hash(b"record %d" % i) for i in range(37)]
    _, tree = _built(leaves)
    for size in range(1, len(leaves) + 1):
        root = _naive_root(leaves[:size])
        assert tree.root(0, size) == root
        for index in range(size):
            path = tree.inclusion_path(index, size)
            assert merkle.verify_inclusion(index, size, leaves[index], path, root)
            assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"forged"), path, root)
            if size > 1:
                assert not merkle.verify_inclusion((index + 1) % size, size, leaves[index], path, root)
        for first in range(1, size + 1):
            path = tree.consistency_path(first, size)
            first_root = _naive_root(leaves[:first])
            assert merkle.verify_consistency(first, size, first_root, root, path)
            if first < size:
                forked = _naive_root([merkle.leaf_hash(b"fork")] + leaves[1:first])
                assert not merkle.verify_consistency(first, size, forked, root, path)


def test_a_proof_reads_few_nodes_of_a_large_tree():
    size = 3_000_017
    inclusion = merkle.needed_subtrees(lambda tree: tree.inclusion_path(1_234_567, size))
    consistency = merkle.needed_subtrees(lambda tree: tree.consistency_path(2_000_003, size))
    assert len(inclusion) <= 2 * size.bit_length() ** 2 and len(consistency) <= 2 * size.bit_length() ** 2
    assert len(inclusion) < 100 and len(consistency) < 100


# -- signed notes --

# golang.org/x/mod/sumdb/note's documented example key and note
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def test_note_keys_and_signature_match_go_sumdb_note():
    signer = load_signer(GO_SKEY.encode(), None)
    assert signer.verifier.text() == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_TEXT + "\n" + GO_SIG
    verifier = load_verifier(GO_VKEY.encode())
    assert open_note(GO_TEXT + "\n" + GO_SIG, verifier) == GO_TEXT
    with pytest.raises(NoteError, match="does not verify"):
        open_note(GO_TEXT.replace("answer", "question") + "\n" + GO_SIG, verifier)
    other = load_signer(_pem(Ed25519PrivateKey.generate()), "PeterNeumann").verifier
    with pytest.raises(NoteError, match="not signed by"):
        open_note(GO_TEXT + "\n" + GO_SIG, other)


def test_checkpoint_text_form():
    body = "example.com/log\n7\n" + base64.b64encode(b"\1" * 32).decode() + "\ntime 2026-12-01T00:00:00Z\n"
    checkpoint = parse_checkpoint(body)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == ("example.com/log", 7, b"\1" * 32)
    assert checkpoint.extension("time") == "2026-12-01T00:00:00Z" and checkpoint.text() == body
    for bad in ("example.com/log\n07\n" + body.split("\n")[2] + "\n", "example.com/log\n7\nnot base64\n",
                "example.com/log\n7\n"):
        with pytest.raises(NoteError):
            parse_checkpoint(bad)


# -- the service --

def _pem(private) -> bytes:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@pytest.fixture
def keyed(tmp_path, monkeypatch):
    """A checkpoint key (PKCS8 PEM) configured; returns the verifier key file auditors hold."""
    key = tmp_path / "checkpoint.pem"
    key.write_bytes(_pem(Ed25519PrivateKey.generate()))
    monkeypatch.setenv("RAC_CHECKPOINT_KEY", str(key))
    monkeypatch.setenv("RAC_CHECKPOINT_ORIGIN", "test.example/log")
    monkeypatch.setenv("RAC_CHECKPOINT_EVERY", "3")
    monkeypatch.delenv("RAC_CHECKPOINT_SECONDS", raising=False)
    monkeypatch.delenv("RAC_CHECKPOINT_KEY_NAME", raising=False)
    vkey = tmp_path / "checkpoint.vkey"
    vkey.write_text(load_verifier(key.read_bytes(), "test.example/log").text() + "\n")
    return vkey


def _logged(client, count, prefix="C"):
    return [post(client, hte_case(f"{prefix}-{i}"))["decision_id"] for i in range(count)]


def _held(client, tmp_path, name="held.checkpoint"):
    response = client.get("/v1/log/checkpoint")
    assert response.status_code == 200 and response.mimetype == "text/plain", response.get_data(as_text=True)
    path = tmp_path / name
    path.write_text(response.get_data(as_text=True), encoding="utf-8")
    return path


def _verify(target, checkpoint, vkey, capsys, *extra):
    code = cli(["verify", "--database", target.location, "--no-replay", "--checkpoint", str(checkpoint),
                "--public-key", str(vkey), *extra])
    return code, capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_checkpoints_are_issued_every_n_records_and_proofs_verify(target, keyed, decider, tmp_path):
    app = create_app(decider)
    client = app.test_client()
    assert client.get("/v1/log/checkpoint").status_code == 404  # nothing logged yet
    ids = _logged(client, 7)
    verifier = load_verifier(keyed.read_bytes())
    note = client.get("/v1/log/checkpoint").get_data(as_text=True)
    checkpoint = read_checkpoint(note, verifier)
    assert (checkpoint.origin, checkpoint.size) == ("test.example/log", 6)  # issued at 3 and 6; 7 waits
    decision_log = app.extensions["decision_log"]
    assert checkpoint.extension("head") == decision_log.get(ids[5]).hash
    for seq, decision_id in enumerate(ids[:6], 1):
        proof = client.get(f"/v1/decisions/{decision_id}/proof").get_json()
        assert proof["seq"] == seq and proof["tree_size"] == 6 and proof["checkpoint"] == note
        leaf = merkle.record_leaf(proof["record_hash"])
        path = [base64.b64decode(p) for p in proof["inclusion_path"]]
        assert merkle.verify_inclusion(seq - 1, 6, leaf, path, checkpoint.root)
        assert not merkle.verify_inclusion(seq - 1, 6, merkle.record_leaf("00" * 32), path, checkpoint.root)
    assert client.get(f"/v1/decisions/{ids[6]}/proof").status_code == 409  # not in a checkpoint yet
    old = client.get(f"/v1/decisions/{ids[0]}/proof?size=3").get_json()
    first = read_checkpoint(old["checkpoint"], verifier)
    assert first.size == 3 and base64.b64decode(old["root_hash"]) == first.root
    consistency = client.get("/v1/log/consistency?from=3").get_json()
    assert (consistency["from"], consistency["to"]) == (3, 6)
    assert merkle.verify_consistency(3, 6, first.root, checkpoint.root,
                                     [base64.b64decode(p) for p in consistency["consistency_path"]])
    for query in ("from=0", "from=5&to=4", "from=x", "", "from=³", "from=1&to=٣"):  # not ASCII digits: 400, not 500
        assert client.get(f"/v1/log/consistency?{query}").status_code == 400
    assert client.get(f"/v1/decisions/{ids[0]}/proof?size=³").status_code == 400
    assert client.get("/v1/log/consistency?from=2&to=99").status_code == 409
    assert client.get("/v1/decisions/no-such-id/proof").status_code == 404
    close_log(app)


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_verify_checkpoint_passes_an_intact_log_and_reports_an_unsigned_tail(target, keyed, decider, tmp_path, capsys):
    app = create_app(decider)
    client = app.test_client()
    _logged(client, 3)
    held = _held(client, tmp_path)
    _logged(client, 4, "L")  # a checkpoint at 6 is issued; 7 is not covered yet
    code, lines = _verify(target, held, keyed, capsys)
    assert code == 1 and "seq 7..7: 1 record(s) no signed checkpoint covers: a forged record is not told from a new one" in lines
    code, lines = _verify(target, held, keyed, capsys, "--allow-unsigned-tail")
    assert code == 0 and lines[-1].endswith(": ok")
    assert cli(["checkpoint", "--database", target.location, "--issue"]) == 0
    assert read_checkpoint(capsys.readouterr().out, load_verifier(keyed.read_bytes())).size == 7
    code, lines = _verify(target, held, keyed, capsys)
    assert code == 0 and "against the checkpoint of size 3" in lines[-1] and lines[-1].endswith(": ok"), lines
    close_log(app)


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_a_truncated_log_is_detected(target, keyed, decider, tmp_path, capsys):
    app = create_app(decider)
    _logged(app.test_client(), 6)
    held = _held(app.test_client(), tmp_path)
    close_log(app)
    target.execute("DELETE FROM decision_log WHERE seq > 4")
    assert cli(["verify", "--database", target.location]) == 0  # the chain alone cannot tell
    capsys.readouterr()
    code, lines = _verify(target, held, keyed, capsys)
    assert code == 1 and "the log holds 4 record(s), the checkpoint 6: the log was truncated" in lines


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_a_consistently_rewritten_history_is_detected(target, keyed, decider, tmp_path, capsys):
    app = create_app(decider)
    _logged(app.test_client(), 6)
    held = _held(app.test_client(), tmp_path)
    decision_log = app.extensions["decision_log"]
    records = list(decision_log.records())
    close_log(app)
    # seq 2 is moved a day back and every later record rehashed: a chain as sound as before
    prev = records[0].hash
    for record in records[1:]:
        if record.seq == 2:
            record.created_at = "2024-12-04" + record.created_at[10:]
        record.prev_hash = prev
        record.hash = prev = record_hash(record)
        target.execute("UPDATE decision_log SET created_at = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                       (record.created_at, record.prev_hash, record.hash, record.seq))
    assert cli(["verify", "--database", target.location]) == 0  # chain and replay both pass
    capsys.readouterr()
    code, lines = _verify(target, held, keyed, capsys)
    assert code == 1
    assert ("the log's first 6 record(s) do not hash to the checkpoint's root: the history was rewritten or the log forked"
            in lines)
    assert "signed checkpoint of size 6: the records do not hash to its root" in lines  # the log's own copy too


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_a_forked_log_is_detected(target, keyed, decider, tmp_path, capsys):
    app = create_app(decider)
    _logged(app.test_client(), 3)
    held = _held(app.test_client(), tmp_path)  # an auditor took the checkpoint of size 3
    close_log(app)
    # the operator drops seq 3 and everything derived from it, logs other decisions in its place,
    # and has the service sign the new history: a second, validly signed history
    for sql in ("DELETE FROM decision_log WHERE seq >= 3", "DELETE FROM merkle_node", "DELETE FROM log_checkpoint"):
        target.execute(sql)
    app = create_app(decider)
    _logged(app.test_client(), 3, "F")
    forked = _held(app.test_client(), tmp_path, "forked.checkpoint")
    assert read_checkpoint(forked.read_text(), load_verifier(keyed.read_bytes())).size == 3
    close_log(app)
    assert cli(["checkpoint", "--database", target.location, "--issue"]) == 0
    capsys.readouterr()
    assert cli(["verify", "--database", target.location]) == 0
    capsys.readouterr()
    code, lines = _verify(target, held, keyed, capsys)
    assert code == 1
    assert "the log's first 3 record(s) do not hash to the checkpoint's root: the history was rewritten or the log forked" in lines
    assert ("the log's signed checkpoint of size 5 is not consistent with the held one of size 3: "
            "the key signed two histories (a fork)") in lines


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_an_appended_forged_record_is_detected(target, keyed, decider, tmp_path, capsys):
    app = create_app(decider)
    _logged(app.test_client(), 3)
    held = _held(app.test_client(), tmp_path)
    last = list(app.extensions["decision_log"].records())[-1]
    close_log(app)
    # a copy of the last decision under a new id, appended well chained, straight into the database
    last.seq, last.decision_id, last.prev_hash = 4, "00000000-0000-4000-8000-000000000004", last.hash
    last.format = 1  # the columns this INSERT fills: a format-1 record, which verify still accepts
    last.hash = record_hash(last)
    target.execute("INSERT INTO decision_log (seq, decision_id, created_at, input, decision, prev_hash, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (last.seq, last.decision_id, last.created_at, last.input,
                                                     last.decision, last.prev_hash, last.hash))
    assert cli(["verify", "--database", target.location]) == 0
    capsys.readouterr()
    code, lines = _verify(target, held, keyed, capsys)
    assert code == 1 and "seq 4..4: 1 record(s) no signed checkpoint covers: a forged record is not told from a new one" in lines


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_a_stored_checkpoint_not_signed_by_the_key_is_reported(target, keyed, decider, tmp_path, capsys):
    app = create_app(decider)
    _logged(app.test_client(), 3)
    held = _held(app.test_client(), tmp_path)
    close_log(app)
    forged = held.read_text().replace("\n3\n", "\n4\n", 1)
    target.execute("INSERT INTO log_checkpoint (size, root_hash, issued_at, note) VALUES (4, 'AA==', 'x', ?)",
                   (forged,))
    code, lines = _verify(target, held, keyed, capsys)
    assert code == 1 and any(line.startswith("stored checkpoint of size 4: the signature of") for line in lines)


def test_a_bad_checkpoint_setting_stops_the_start(tmp_path, monkeypatch, decider):
    monkeypatch.setenv("RAC_CHECKPOINT_KEY", str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="RAC_CHECKPOINT_KEY"):
        create_app(decider)
    key = tmp_path / "k.pem"
    key.write_bytes(_pem(Ed25519PrivateKey.generate()))
    monkeypatch.setenv("RAC_CHECKPOINT_KEY", str(key))
    monkeypatch.setenv("RAC_CHECKPOINT_EVERY", "0")
    with pytest.raises(ValueError, match="RAC_CHECKPOINT_EVERY"):
        create_app(decider)


def test_generated_note_key_signs_checkpoints(tmp_path, monkeypatch, decider, capsys):
    key = tmp_path / "note.key"
    assert cli(["checkpoint", "--generate-key", str(key), "--name", "gen.example/log"]) == 0
    vkey = capsys.readouterr().out.strip()
    assert key.read_text().startswith("PRIVATE+KEY+gen.example/log+") and oct(key.stat().st_mode)[-3:] == "600"
    monkeypatch.setenv("RAC_CHECKPOINT_KEY", str(key))
    monkeypatch.setenv("RAC_CHECKPOINT_EVERY", "1")
    assert cli(["checkpoint", "--public-key"]) == 0 and capsys.readouterr().out.strip() == vkey
    app = create_app(decider)
    post(app.test_client(), hte_case("G-1"))
    note = app.test_client().get("/v1/log/checkpoint").get_data(as_text=True)
    assert read_checkpoint(note, load_verifier(vkey.encode())).size >= 1
    close_log(app)


# -- the standalone script --

def _script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_standalone_script_verifies_a_proof_against_a_held_checkpoint(target, keyed, decider, tmp_path, capsys):
    assert "import service" not in SCRIPT.read_text() and "from service" not in SCRIPT.read_text()
    app = create_app(decider)
    client = app.test_client()
    ids = _logged(client, 5)
    held = _held(client, tmp_path)  # size 3
    proof = tmp_path / "proof.json"
    proof.write_text(client.get(f"/v1/decisions/{ids[1]}/proof").get_data(as_text=True), encoding="utf-8")
    result = _script(proof, held, keyed)
    assert result.returncode == 0 and result.stdout.startswith(f"ok: decision {ids[1]} (seq 2)"), result
    pem = tmp_path / "public.pem"
    pem.write_bytes(load_signer((tmp_path / "checkpoint.pem").read_bytes(), "x").private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert _script(proof, held, pem).returncode == 0  # a PEM public key, named by the checkpoint's origin

    body = json.loads(proof.read_text())
    body["record"]["decision"] = body["record"]["decision"].replace("200000.00", "300000.00")
    assert "200000.00" in json.loads(proof.read_text())["record"]["decision"]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    result = _script(tampered, held, keyed)
    assert result.returncode == 1 and "does not hash to record_hash" in result.stdout

    body = json.loads(proof.read_text())
    body["inclusion_path"][0] = base64.b64encode(b"\0" * 32).decode()
    tampered.write_text(json.dumps(body), encoding="utf-8")
    result = _script(tampered, held, keyed)
    assert result.returncode == 1 and "does not lead to the checkpoint's root" in result.stdout

    other = tmp_path / "other.vkey"
    other.write_text(load_verifier(_pem(Ed25519PrivateKey.generate()), "test.example/log").text())
    assert _script(proof, held, other).returncode == 1

    assert client.get(f"/v1/decisions/{ids[1]}/proof?size=5").status_code == 409  # the tree holds 3
    assert cli(["checkpoint", "--database", target.location, "--issue"]) == 0
    later = tmp_path / "later.json"
    later.write_text(client.get(f"/v1/decisions/{ids[1]}/proof?size=5").get_data(as_text=True))
    result = _script(later, held, keyed)
    assert result.returncode == 1 and "ask ?size=3" in result.stdout
    close_log(app)


def test_a_quiet_logs_tail_is_signed_when_the_checkpoint_is_asked_for(keyed, decider, monkeypatch, tmp_path):
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "quiet.sqlite3"))
    monkeypatch.setenv("RAC_CHECKPOINT_EVERY", "100")
    monkeypatch.setenv("RAC_CHECKPOINT_SECONDS", "3600")
    app = create_app(decider)
    client = app.test_client()
    verifier = load_verifier(keyed.read_bytes())
    _logged(client, 2, "Q")

    def size():
        return read_checkpoint(client.get("/v1/log/checkpoint").get_data(as_text=True), verifier).size

    assert client.get("/v1/log/checkpoint").status_code == 200
    first = size()
    assert first == 2  # none was due after 2 appends; the first one is made when asked for
    _logged(client, 1, "Q2")
    assert size() == first  # not due: fewer than 100 records, younger than an hour
    app.extensions["checkpointer"].settings.seconds = 0  # an hour later
    assert size() == first + 1
    close_log(app)


def test_a_checkpoint_that_cannot_be_issued_never_fails_the_decision(keyed, decider, monkeypatch, tmp_path, caplog):
    from service.log import LogError
    from service.log.checkpoints import Checkpointer

    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "failing.sqlite3"))
    monkeypatch.setenv("RAC_CHECKPOINT_EVERY", "1")

    def broken(self, *, force=False):
        raise LogError("disk full")

    monkeypatch.setattr(Checkpointer, "issue", broken)
    app = create_app(decider)
    decision_id = post(app.test_client(), hte_case("X-1"))["decision_id"]
    assert app.extensions["decision_log"].get(decision_id) is not None
    assert "checkpoint not issued: disk full" in caplog.text
    assert app.test_client().get("/v1/log/checkpoint").status_code == 404  # none issued; still answered
    close_log(app)
