"""The signed manifest of a published model, Ed25519 keys, and the bundle layout.

A manifest names one GGUF (a chat model or a LoRA adapter): ``name``, ``version``, ``kind``,
``size``, ``sha256`` and ``created``. Its signature is Ed25519 over the canonical JSON of those
fields (sorted keys, no spaces, UTF-8), so any change to any field, or to the file (through
its size and sha256), fails verification. Keys are written as base64 (or hex) of their 32 raw
bytes; the private key file holds the base64 of the seed and is created 0600.

A bundle (``publish-model --bundle``, ``models import``) is a folder or a tar with
``manifest.json`` (``{"manifest": {...}, "signature": ..., "key": ...}``) and ``model.gguf``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from assistant.errors import UpdateError

Kind = Literal["llm", "lora"]
KINDS: tuple[str, ...] = ("llm", "lora")
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.gguf"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"


def check_name(value: str, what: str) -> str:
    """Return a model name or version if it is safe as a path part; raise UpdateError if not."""
    if not re.fullmatch(NAME_PATTERN, value) or ".." in value:
        raise UpdateError(
            f"invalid model {what} '{value}': letters, digits, '.', '_' and '-' only "
            "(at most 100, starting with a letter or digit)"
        )
    return value


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a signature vouches for: one model file by name, version, size and sha256."""

    name: str
    version: str
    sha256: str
    size: int
    kind: Kind
    created: str

    def canonical(self) -> bytes:
        """Return the bytes that are signed: sorted-key compact JSON of every field."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode("utf-8")

    def as_dict(self) -> dict[str, Any]:
        """Return the manifest as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> Manifest:
        """Build a manifest from JSON; raise UpdateError naming the field that is wrong."""
        if not isinstance(raw, dict):
            raise UpdateError("invalid manifest: not a JSON object")
        try:
            name, version = str(raw["name"]), str(raw["version"])
            sha256, size, kind, created = raw["sha256"], raw["size"], raw["kind"], raw["created"]
        except KeyError as exc:
            raise UpdateError(f"invalid manifest: no field {exc}") from exc
        check_name(name, "name")
        check_name(version, "version")
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise UpdateError("invalid manifest: sha256 is not 64 lowercase hex digits")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise UpdateError("invalid manifest: size is not a positive integer")
        if kind not in KINDS:
            raise UpdateError(f"invalid manifest: kind '{kind}' is not one of {', '.join(KINDS)}")
        if not isinstance(created, str):
            raise UpdateError("invalid manifest: created is not a string")
        return cls(name, version, sha256, size, kind, created)


@dataclass(frozen=True, slots=True)
class SignedManifest:
    """A manifest with its Ed25519 signature and the public key that made it (both base64)."""

    manifest: Manifest
    signature: str
    key: str

    def as_dict(self) -> dict[str, Any]:
        """Return the document served by the receiver and kept in bundles."""
        return {"manifest": self.manifest.as_dict(), "signature": self.signature, "key": self.key}

    @classmethod
    def from_dict(cls, raw: Any) -> SignedManifest:
        """Read a signed manifest document; raise UpdateError if it is malformed."""
        if not isinstance(raw, dict):
            raise UpdateError("invalid signed manifest: not a JSON object")
        signature, key = raw.get("signature"), raw.get("key")
        if not isinstance(signature, str) or not isinstance(key, str):
            raise UpdateError("invalid signed manifest: no signature or key")
        return cls(Manifest.from_dict(raw.get("manifest")), signature, key)

    def write(self, path: Path) -> None:
        """Write the document as JSON (atomically)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> SignedManifest:
        """Read a signed manifest file; raise UpdateError if it is missing or malformed."""
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise UpdateError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise UpdateError(f"{path} is not JSON: {exc}") from exc


def decode_key(text: str) -> bytes:
    """Return the 32 raw bytes of a key written as base64 or hex; raise UpdateError if not."""
    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UpdateError(f"key '{text[:12]}...' is neither base64 nor hex") from exc
    if len(raw) != 32:
        raise UpdateError(f"key '{text[:12]}...' is {len(raw)} bytes, an Ed25519 key is 32")
    return raw


def encode_key(raw: bytes) -> str:
    """Return the base64 text of a raw key."""
    return base64.b64encode(raw).decode("ascii")


def public_key_text(private: Ed25519PrivateKey) -> str:
    """Return the base64 public key of a private key."""
    return encode_key(private.public_key().public_bytes_raw())


def generate_key(path: Path) -> str:
    """Create a private key file (mode 0600, refusing to overwrite); return the public key."""
    private = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise UpdateError(f"{path} already exists: a signing key is never overwritten") from exc
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(encode_key(private.private_bytes_raw()) + "\n")
    return public_key_text(private)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a private key file written by ``generate_key``; raise UpdateError if unusable."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise UpdateError(f"cannot read the signing key {path}: {exc}") from exc
    return Ed25519PrivateKey.from_private_bytes(decode_key(text))


def sign(manifest: Manifest, private: Ed25519PrivateKey) -> SignedManifest:
    """Sign a manifest's canonical bytes."""
    signature = base64.b64encode(private.sign(manifest.canonical())).decode("ascii")
    return SignedManifest(manifest, signature, public_key_text(private))


def verify(signed: SignedManifest, trusted_keys: tuple[str, ...] | list[str]) -> str:
    """Check the signature against the trusted keys; return the key (base64) that signed it.

    Raises UpdateError when no key is trusted, when the signing key is not among them, or when
    the signature does not match the manifest.
    """
    if not trusted_keys:
        raise UpdateError(
            "no trusted keys: set models.trusted_keys to the public key of the cloud's signing "
            "key (shiftmate cloud keygen prints it)"
        )
    trusted = {decode_key(k): k for k in trusted_keys}
    claimed = decode_key(signed.key)
    m = signed.manifest
    if claimed not in trusted:
        raise UpdateError(
            f"model {m.name} {m.version} is signed by key {signed.key}, which is not in "
            "models.trusted_keys"
        )
    try:
        signature = base64.b64decode(signed.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(claimed).verify(signature, m.canonical())
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise UpdateError(
            f"model {m.name} {m.version}: the signature does not match its manifest "
            f"(key {signed.key})"
        ) from exc
    return encode_key(claimed)
