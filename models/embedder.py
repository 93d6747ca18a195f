"""Sentence embedders: the interface the knowledge base needs, and the in-process one.

:class:`TextEmbedder` is what ingestion, search and quoting depend on; :class:`Embedder` runs a
sentence-transformers model from a local folder, ``models.openai_embedder.ServerEmbedder`` asks
an OpenAI-compatible server.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from models.errors import ModelError
from models.offline import enforce_offline


@runtime_checkable
class TextEmbedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; ``name`` and ``dimension`` identify them.

    Vectors from two embedders are comparable only when both ``name`` and ``dimension`` agree:
    the vector store records them and refuses an embedder that differs.
    """

    @property
    def name(self) -> str:
        """Return the embedder's identity (registry name, folder name or server model)."""
        ...

    @property
    def dimension(self) -> int:
        """Return the length of each vector."""
        ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return one normalised vector per text, shape (len(texts), dimension)."""
        ...


class Embedder:
    """Turns texts into L2-normalised float32 vectors (cosine similarity = dot product)."""

    def __init__(self, path: Path, *, batch_size: int = 64, name: str | None = None) -> None:
        enforce_offline()
        from sentence_transformers import SentenceTransformer

        try:
            self._model: Any = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load embedder from {path}: {exc}") from exc
        self.path = path
        self.name = name or path.name
        self.batch_size = batch_size
        dimension_of = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dimension = dimension_of()
        if not dimension:
            raise ModelError(f"embedder at {path} does not report its dimension")
        self.dimension = int(dimension)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return one normalised vector per text, shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
