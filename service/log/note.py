"""C2SP signed notes with Ed25519 keys, and C2SP ``tlog-checkpoint`` bodies.

A note is its text (lines ending in ``\\n``), a blank line, then one line per
signature: ``— <key name> <base64(key hash || signature)>``, where the key hash
is the first 4 bytes of ``sha256(name || "\\n" || 0x01 || public key)`` and the
signature is Ed25519 over the text. Keys are read as PKCS8 / SubjectPublicKeyInfo
PEM, or in the note key forms ``PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>``
and ``<name>+<hash>+<base64(0x01 || public key)>`` (as Go's ``golang.org/x/mod/sumdb/note``).
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

ALG_ED25519 = b"\x01"
DASH = "\u2014"


class NoteError(ValueError):
    """A note, checkpoint or key that cannot be read, or a signature that does not verify."""


def _ed25519():
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as error:  # pragma: no cover - the deployment lacks the dependency
        raise NoteError("signed checkpoints need the 'cryptography' package") from error
    return ed25519


def key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ALG_ED25519 + public).digest()[:4]


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a key name must be non-empty, without spaces or '+': {name!r}")
    return name


@dataclass
class Verifier:
    name: str
    public: bytes  # 32 raw bytes

    @property
    def hash(self) -> bytes:
        return key_hash(self.name, self.public)

    def text(self) -> str:
        """The verifier key in note form, for auditors: ``name+hash+base64``."""
        return f"{self.name}+{self.hash.hex()}+{base64.b64encode(ALG_ED25519 + self.public).decode()}"

    def verifies(self, text: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            _ed25519().Ed25519PublicKey.from_public_bytes(self.public).verify(signature, text)
            return True
        except InvalidSignature:
            return False


@dataclass
class Signer:
    name: str
    private: object = field(repr=False)  # an Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        from cryptography.hazmat.primitives import serialization

        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return Verifier(self.name, raw)

    def sign(self, text: str) -> str:
        """The signed note of ``text``."""
        if not text.endswith("\n"):
            raise NoteError("a note's text ends with a newline")
        signature = self.private.sign(text.encode())
        stamp = base64.b64encode(self.verifier.hash + signature).decode()
        return f"{text}\n{DASH} {self.name} {stamp}\n"


def load_signer(data: bytes, name: str | None) -> Signer:
    """A private key: note form (its name inside) or PKCS8 PEM (named ``name``)."""
    text = data.decode("ascii", "replace").strip()
    if text.startswith("PRIVATE+KEY+"):
        parts = text.split("+", 4)  # base64 has '+' too
        if len(parts) != 5:
            raise NoteError("a note private key is PRIVATE+KEY+<name>+<hash>+<key>")
        raw = _b64(parts[4], "private key")
        if len(raw) != 33 or raw[:1] != ALG_ED25519:
            raise NoteError("the note private key is not an Ed25519 key")
        signer = Signer(_check_name(parts[2]), _ed25519().Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.hash.hex() != parts[3].lower():
            raise NoteError("the note private key's hash does not match its name and key")
        return signer
    from cryptography.hazmat.primitives import serialization

    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise NoteError(f"not a PKCS8 PEM private key nor a note private key: {error}") from error
    if not isinstance(private, _ed25519().Ed25519PrivateKey):
        raise NoteError("the checkpoint key must be an Ed25519 key")
    return Signer(_check_name(name or ""), private)


def load_verifier(data: bytes, name: str | None = None) -> Verifier:
    """A public key: note form ``name+hash+base64`` or SubjectPublicKeyInfo PEM (named ``name``);
    a private key is accepted too (its public half is taken)."""
    text = data.decode("ascii", "replace").strip()
    if text.startswith("PRIVATE+KEY+") or "PRIVATE KEY-----" in text:
        return load_signer(data, name).verifier
    if "-----BEGIN" in text:
        from cryptography.hazmat.primitives import serialization

        public = serialization.load_pem_public_key(data)
        if not isinstance(public, _ed25519().Ed25519PublicKey):
            raise NoteError("the checkpoint key must be an Ed25519 key")
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return Verifier(_check_name(name or ""), raw)
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError("a note verifier key is <name>+<hash>+<key>")
    raw = _b64(parts[2], "public key")
    if len(raw) != 33 or raw[:1] != ALG_ED25519:
        raise NoteError("the note verifier key is not an Ed25519 key")
    verifier = Verifier(_check_name(parts[0]), raw[1:])
    if verifier.hash.hex() != parts[1].lower():
        raise NoteError("the verifier key's hash does not match its name and key")
    return verifier


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as error:
        raise NoteError(f"the {what} is not base64") from error


def open_note(note: str, verifier: Verifier) -> str:
    """The text of ``note`` when one of its signatures is ``verifier``'s and verifies;
    else NoteError saying why."""
    text, sep, signatures = note.rpartition("\n\n")
    if not sep:
        raise NoteError("not a signed note: no blank line before the signatures")
    text += "\n"
    for line in signatures.splitlines():
        prefix, _, rest = line.partition(" ")
        name, _, stamp = rest.partition(" ")
        if prefix != DASH or not name or not stamp:
            raise NoteError(f"not a signature line: {line!r}")
        raw = _b64(stamp, "signature")
        if name == verifier.name and raw[:4] == verifier.hash:
            if verifier.verifies(text.encode(), raw[4:]):
                return text
            raise NoteError(f"the signature of {name} does not verify")
    raise NoteError(f"the note is not signed by {verifier.name}")


@dataclass
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    def extension(self, key: str) -> str | None:
        for line in self.extensions:
            name, _, value = line.partition(" ")
            if name == key:
                return value
        return None


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not lines[0]:
        raise NoteError("a checkpoint is an origin, a size and a root hash, one a line")
    size_text, root_text = lines[1], lines[2]
    if not (size_text.isascii() and size_text.isdigit()) or (size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"the checkpoint's tree size is not a decimal number: {size_text!r}")
    root = _b64(root_text, "root hash")
    if len(root) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    extensions = lines[3:-1]
    if any(not line for line in extensions):
        raise NoteError("a checkpoint's extension lines are not empty")
    return Checkpoint(lines[0], int(size_text), root, extensions)


def read_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """A signed checkpoint note, its signature checked."""
    return parse_checkpoint(open_note(note, verifier))
