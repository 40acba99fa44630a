#!/usr/bin/env python3
"""Check that a logged decision is in the decision log, without the service nor its log.

    verify_proof.py PROOF.json CHECKPOINT KEY [--key-name NAME]

PROOF.json is GET /v1/decisions/{id}/proof; CHECKPOINT a signed checkpoint you hold
(GET /v1/log/checkpoint); KEY the log's verifier key (name+hash+base64, or a PEM
public key named NAME, default the checkpoint's origin). Exit 0 when the checkpoint
is signed by KEY and the record hashes, through the proof, to its root; else 1.
Needs only the standard library and ``cryptography`` (RFC 6962 / 9162, C2SP signed note)."""
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key, Encoding, PublicFormat


def fail(why):
    sys.exit(print(f"FAIL: {why}") or 1)


def main(proof_path, checkpoint_path, key_path, key_name=None):
    proof = json.load(open(proof_path, encoding="utf-8"))
    note = open(checkpoint_path, encoding="utf-8").read()
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    origin, size, root = text.split("\n")[:3]
    key = open(key_path, "rb").read().strip()
    if key.startswith(b"-----BEGIN"):
        name, public = key_name or origin, load_pem_public_key(key).public_bytes(Encoding.Raw, PublicFormat.Raw)
    else:
        name, _, encoded = key.decode().split("+", 2)
        public = base64.b64decode(encoded)[1:]
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    stamps = [base64.b64decode(line.split(" ")[2]) for line in signatures.splitlines()
              if line.startswith("\u2014 ") and line.split(" ")[1] == name]
    try:
        [signature] = [s[4:] for s in stamps if s[:4] == key_id]
        Ed25519PublicKey.from_public_bytes(public).verify(signature, text.encode())
    except Exception:
        fail(f"the checkpoint is not signed by {name}")
    if proof["tree_size"] != int(size):
        fail(f"the proof is for a tree of {proof['tree_size']}, the checkpoint of {size}: ask ?size={size}")
    if "record" in proof:  # the record's own hash, as the log computes it: sha256(prev_hash + canonical JSON)
        body = json.dumps(proof["record"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if hashlib.sha256((proof["record"]["prev_hash"] + body).encode()).hexdigest() != proof["record_hash"]:
            fail("the record does not hash to record_hash")
    node = hashlib.sha256(b"\0" + bytes.fromhex(proof["record_hash"])).digest()
    fn, sn = proof["leaf_index"], proof["tree_size"] - 1
    for sibling in map(base64.b64decode, proof["inclusion_path"]):  # RFC 9162 2.1.3.2
        if sn == 0:
            fail("the inclusion path is too long")
        if fn & 1 or fn == sn:
            node = hashlib.sha256(b"\1" + sibling + node).digest()
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hashlib.sha256(b"\1" + node + sibling).digest()
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or base64.b64encode(node).decode() != root:
        fail("the inclusion path does not lead to the checkpoint's root")
    print(f"ok: decision {proof['decision_id']} (seq {proof['seq']}) is in {origin} of size {size}")


if __name__ == "__main__":
    args = sys.argv[1:]
    name = args.pop(args.index("--key-name") + 1) if "--key-name" in args else None
    if "--key-name" in args:
        args.remove("--key-name")
    if len(args) != 3:
        sys.exit(__doc__)
    main(*args, key_name=name)
