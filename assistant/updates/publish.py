"""The cloud side: sign a GGUF and keep it where the receiver serves it, or write a bundle.

Published models live under ``<cloud data dir>/models/<name>/<version>/`` as ``model.gguf``
and ``manifest.json`` (the signed manifest); the receiver lists and serves them
(:mod:`assistant.cloud.models_route`). The signing key defaults to
``<cloud data dir>/signing.key`` (``shiftmate cloud keygen``).
"""

from __future__ import annotations

import os
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import UpdateError
from assistant.updates.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    Kind,
    Manifest,
    SignedManifest,
    check_name,
    load_private_key,
    sign,
)
from models.gguf import check_gguf, sha256_file

KEY_FILE = "signing.key"


def published_dir(root: Path, name: str, version: str) -> Path:
    """Return the folder of one published version under the models root."""
    return root / check_name(name, "name") / check_name(version, "version")


def sign_file(source: Path, name: str, version: str, kind: Kind, key_path: Path) -> SignedManifest:
    """Check that ``source`` is a GGUF, hash it and sign its manifest with the key file."""
    try:
        check_gguf(source)
    except Exception as exc:
        raise UpdateError(f"cannot publish {source}: {exc}") from exc
    manifest = Manifest(
        name=check_name(name, "name"),
        version=check_name(version, "version"),
        sha256=sha256_file(source),
        size=source.stat().st_size,
        kind=kind,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return sign(manifest, load_private_key(key_path))


def publish(root: Path, source: Path, signed: SignedManifest) -> Path:
    """Copy the file and its signed manifest under ``root``; refuse to replace a version."""
    m = signed.manifest
    folder = published_dir(root, m.name, m.version)
    if (folder / MANIFEST_FILE).exists():
        raise UpdateError(
            f"model {m.name} {m.version} is already published; publish a new version instead"
        )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (MODEL_FILE + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, folder / MODEL_FILE)
    signed.write(folder / MANIFEST_FILE)  # last: a version is listed only once complete
    return folder


def published(root: Path) -> list[tuple[SignedManifest, Path]]:
    """Return every complete published version (manifest and file), by name then version."""
    found = []
    for manifest_path in sorted(root.glob(f"*/*/{MANIFEST_FILE}")):
        model = manifest_path.parent / MODEL_FILE
        if model.is_file():
            found.append((SignedManifest.read(manifest_path), model))
    return found


def write_bundle(signed: SignedManifest, source: Path, out: Path) -> Path:
    """Write a bundle for an offline site: a tar when ``out`` ends in .tar, else a folder."""
    if out.exists():
        raise UpdateError(f"{out} already exists: the bundle is not written over it")
    if out.name.endswith(".tar"):
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.with_name(out.name + ".tmp")
        staging.mkdir()
        try:
            signed.write(staging / MANIFEST_FILE)
            with tarfile.open(out, "w") as archive:
                archive.add(staging / MANIFEST_FILE, arcname=MANIFEST_FILE)
                archive.add(source, arcname=MODEL_FILE)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return out
    out.mkdir(parents=True)
    shutil.copyfile(source, out / MODEL_FILE)
    signed.write(out / MANIFEST_FILE)
    return out
