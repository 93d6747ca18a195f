"""The model registry: embedded defaults resolve and verify; bad files fail naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.errors import ModelError
from models import registry
from models.gguf import sha256_file


def test_embedded_defaults_resolve_and_verify(tmp_path: Path) -> None:
    cache = tmp_path / "verified.json"
    for name, kind in (("smollm2-135m-instruct", "llm"), ("all-minilm-l6-v2", "embedder")):
        resolved = registry.resolve(name, kind)  # type: ignore[arg-type]
        assert resolved.embedded and resolved.path.exists()
        result = registry.verify(resolved, cache)
        assert result.ok, result.detail
        assert result.actual_sha256 == resolved.expected_sha256
    assert cache.is_file()


def test_missing_model_names_the_setting() -> None:
    with pytest.raises(ModelError, match=r"no-such-model\.gguf"):
        registry.resolve("/nowhere/no-such-model.gguf", "llm")


def test_not_a_gguf_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(ModelError, match=r"not a GGUF model file: .*model\.gguf"):
        registry.resolve(str(fake), "llm")


def test_user_gguf_with_wrong_checksum_fails_naming_the_file(tmp_path: Path) -> None:
    default = registry.resolve("smollm2-135m-instruct", "llm")
    copy = tmp_path / "site-model.gguf"
    shutil.copyfile(default.path, copy)
    resolved = registry.resolve(str(copy), "llm", "0" * 64)
    with pytest.raises(ModelError, match=r"checksum mismatch for .*site-model\.gguf"):
        registry.require_verified(resolved)
    good = registry.resolve(str(copy), "llm", sha256_file(copy))
    assert registry.require_verified(good) == default.expected_sha256


def test_checksum_cache_is_invalidated_when_the_file_changes(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\x00" * 64)
    cache = tmp_path / "cache.json"
    resolved = registry.resolve(str(model), "llm")
    first = registry.verify(resolved, cache).actual_sha256
    model.write_bytes(b"GGUF" + b"\x01" * 80)
    assert registry.verify(resolved, cache).actual_sha256 != first


def test_embedder_path_must_be_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(ModelError, match="not a sentence-transformers folder"):
        registry.resolve(str(file), "embedder")
