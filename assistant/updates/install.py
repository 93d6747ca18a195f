"""Install a signed model at the edge: verify, smoke-test, switch atomically, roll back.

Installed models live in ``<data_dir>/models/<name>-<version>.gguf``; the model in use is named
by ``<data_dir>/models/active.json``::

    {"current": {name, version, sha256, size, kind, key, path, installed} | null,
     "history": [<the entries switched away from, oldest first; null = models.llm>]}

It is replaced with ``os.replace`` (atomic), so a reader sees the old pointer or the new one.
``models.llm`` left at its default follows ``current`` (``assistant.services``); a site that
names its own model in ``models.llm`` is never switched behind its back. Nothing is switched to
before its size, sha256 and signature (by one of ``models.trusted_keys``) check out and its
smoke test (:mod:`assistant.updates.smoke`) passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.errors import UpdateError
from assistant.updates.manifest import MANIFEST_FILE, MODEL_FILE, SignedManifest, verify
from models.gguf import check_gguf, sha256_file

ACTIVE_FILE = "active.json"


def models_dir(data_dir: Path) -> Path:
    """Return where installed models and the active pointer live."""
    return data_dir / "models"


def installed_path(data_dir: Path, name: str, version: str) -> Path:
    """Return the file an installed model version is kept in."""
    return models_dir(data_dir) / f"{name}-{version}.gguf"


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """The model ``active.json`` points to."""

    path: Path
    sha256: str
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class SmokeResult:
    """What the smoke test saw: the answer, its token count and how long it all took."""

    answer: str
    completion_tokens: int
    seconds: float


def read_pointer(data_dir: Path) -> dict[str, Any]:
    """Return the active pointer (``{"current": None, "history": []}`` when there is none)."""
    path = models_dir(data_dir) / ACTIVE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"current": None, "history": []}
    except (OSError, ValueError) as exc:
        raise UpdateError(f"the active model pointer {path} cannot be read: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("history", []), list):
        raise UpdateError(f"the active model pointer {path} is not a pointer document")
    return {"current": raw.get("current"), "history": list(raw.get("history", []))}


def _write_pointer(data_dir: Path, pointer: dict[str, Any]) -> None:
    folder = models_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{ACTIVE_FILE}.tmp"
    with tmp.open("w", encoding="utf-8") as file:
        json.dump(pointer, file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, folder / ACTIVE_FILE)


def active_llm(data_dir: Path) -> ActiveModel | None:
    """Return the installed model the pointer names, or None to use ``models.llm``."""
    current = read_pointer(data_dir)["current"]
    if not isinstance(current, dict):
        return None
    try:
        return ActiveModel(
            Path(current["path"]), current["sha256"], current["name"], current["version"]
        )
    except KeyError as exc:
        raise UpdateError(f"the active model pointer names no {exc}") from exc


def check_file(path: Path, signed: SignedManifest, trusted_keys: tuple[str, ...]) -> str:
    """Check the signature, then the file's size and sha256; return the signing key."""
    key = verify(signed, trusted_keys)
    m = signed.manifest
    size = path.stat().st_size
    if size != m.size:
        raise UpdateError(
            f"model {m.name} {m.version}: {path} is {size} bytes, the manifest says {m.size}"
        )
    digest = sha256_file(path)
    if digest != m.sha256:
        raise UpdateError(
            f"model {m.name} {m.version}: sha256 mismatch for {path}: the signed manifest says "
            f"{m.sha256}, the file is {digest} (tampered or damaged; not installed)"
        )
    return key


def smoke_test(path: Path, timeout_s: float) -> SmokeResult:
    """Load the GGUF in a child process and have it answer the fixed question in time.

    Raises UpdateError when it cannot load, crashes, answers nothing or runs past
    ``timeout_s``.
    """
    try:
        check_gguf(path)
    except Exception as exc:
        raise UpdateError(f"smoke test failed: {exc}") from exc
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "assistant.updates.smoke", str(path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UpdateError(
            f"smoke test failed: {path.name} did not load and answer within "
            f"models.smoke_timeout_s = {timeout_s:g} s"
        ) from exc
    seconds = time.monotonic() - started
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise UpdateError(f"smoke test failed: {path.name} did not answer: {why}")
    try:
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise UpdateError(f"smoke test failed: no result from {path.name}") from exc
    return SmokeResult(str(outcome["answer"]), int(outcome["completion_tokens"]), seconds)


@dataclass(frozen=True, slots=True)
class Installed:
    """The outcome of an install: where the model is, its smoke test, whether it is active."""

    entry: dict[str, Any]
    smoke: SmokeResult | None
    switched: bool


def install(
    data_dir: Path,
    signed: SignedManifest,
    source: Path,
    *,
    trusted_keys: tuple[str, ...],
    smoke_timeout_s: float,
) -> Installed:
    """Verify ``source`` against ``signed``, keep it under models/, smoke-test, switch to it.

    ``source`` is moved into place when it is already in the models folder (a finished
    download), copied otherwise (an import). A file that fails any check is removed from
    the models folder and the active pointer is left as it was.
    """
    m = signed.manifest
    key = verify(signed, trusted_keys)
    target = installed_path(data_dir, m.name, m.version)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != target.resolve():
        staging = target.with_name(target.name + ".incoming")
        if source.parent.resolve() == target.parent.resolve():
            os.replace(source, staging)
        else:
            shutil.copyfile(source, staging)
    else:
        staging = target
    try:
        check_file(staging, signed, trusted_keys)
        smoke = smoke_test(staging, smoke_timeout_s) if m.kind == "llm" else None
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    if staging != target:
        os.replace(staging, target)
    entry = {
        **m.as_dict(),
        "key": key,
        "path": str(target.resolve()),
        "installed": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if m.kind != "llm":
        return Installed(entry, None, False)  # an adapter is kept, verified; nothing switches
    pointer = read_pointer(data_dir)
    current = pointer["current"]
    if isinstance(current, dict) and current.get("sha256") == entry["sha256"]:
        return Installed(entry, smoke, False)
    pointer["history"].append(current)
    pointer["current"] = entry
    _write_pointer(data_dir, pointer)
    return Installed(entry, smoke, True)


def rollback(data_dir: Path) -> dict[str, Any] | None:
    """Switch back to the model in use before the last switch; return it (None: models.llm).

    The previous file must still be there with its sha256; the pointer is replaced atomically.
    """
    pointer = read_pointer(data_dir)
    if not pointer["history"]:
        raise UpdateError("nothing to roll back to: no model update was switched to here")
    previous = pointer["history"][-1]
    if isinstance(previous, dict):
        path = Path(previous["path"])
        if not path.is_file():
            raise UpdateError(f"cannot roll back: the previous model file {path} is gone")
        if sha256_file(path) != previous["sha256"]:
            raise UpdateError(f"cannot roll back: {path} no longer has its sha256")
    pointer["history"].pop()
    pointer["current"] = previous
    _write_pointer(data_dir, pointer)
    return previous if isinstance(previous, dict) else None


@contextmanager
def open_bundle(bundle: Path) -> Iterator[tuple[SignedManifest, Path]]:
    """Yield the signed manifest and model file of a bundle (a folder, or a tar of one).

    A tar is unpacked into a temporary folder (only its two regular files, never paths that
    leave it) and removed afterwards.
    """
    if bundle.is_dir():
        yield SignedManifest.read(bundle / MANIFEST_FILE), bundle / MODEL_FILE
        return
    if not bundle.is_file():
        raise UpdateError(f"no model bundle at {bundle}")
    try:
        archive = tarfile.open(bundle)  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError) as exc:
        raise UpdateError(f"{bundle} is neither a bundle folder nor a tar: {exc}") from exc
    with archive, tempfile.TemporaryDirectory(prefix="shiftmate-bundle-") as tmp:
        members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
        for wanted in (MANIFEST_FILE, MODEL_FILE):
            member = members.get(wanted)
            if member is None:
                raise UpdateError(f"bundle {bundle} has no {wanted}")
            extracted = archive.extractfile(member)
            if extracted is None:
                raise UpdateError(f"bundle {bundle}: {wanted} cannot be read")
            with extracted, (Path(tmp) / wanted).open("wb") as out:
                shutil.copyfileobj(extracted, out, 1 << 20)
        yield SignedManifest.read(Path(tmp) / MANIFEST_FILE), Path(tmp) / MODEL_FILE
