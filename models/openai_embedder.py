"""Embeddings from an OpenAI-compatible server (``POST {base_url}/embeddings``).

``ServerEmbedder`` satisfies :class:`models.embedder.TextEmbedder`: its vectors are float32 and
L2-normalised, its ``name`` is the server's model and its ``dimension`` is learnt from a probe
when it is built. The probe also finds out two things servers differ in:

- **Pooling.** A server that pools (llama.cpp's ``llama-server --pooling mean``, vLLM, Ollama)
  returns one vector per input. llama-cpp-python's ``llama_cpp.server`` (0.3.x) with a model
  that declares no pooling (a chat GGUF such as SmolLM2) returns one vector *per token*; those
  are mean-pooled here, which is what ``--pooling mean`` computes on the server.
- **Batching.** llama-cpp-python 0.3.36's server, asked for several inputs in one request with
  per-token output, returns wrong vectors for every input after the first (measured: cosine
  -0.04 and 0.001 to the same texts sent alone). When the probe's batched vectors differ from
  its single ones, every text is sent in a request of its own; otherwise texts go in batches
  of ``batch_size``.

An empty text is sent as a single space (llama.cpp cannot evaluate zero tokens). Requests that
fail on the way (connection refused or reset, timeout, HTTP 502/503/504) are retried with a
short backoff; any other failure raises :class:`EmbeddingServerError` naming the server.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from models.errors import ModelServerError

_PROBE = (
    "Shiftmate embedding probe.",
    "A second, longer probe text: the strainer is cleaned after the pump is isolated.",
)
_RETRY_STATUSES = frozenset({502, 503, 504})


class EmbeddingServerError(ModelServerError):
    """The embedding server cannot be reached, refuses a request, or answers something unusable."""


class ServerEmbedder:
    """Turns texts into L2-normalised float32 vectors through an OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        batch_size: int = 64,
    ) -> None:
        """Connect, pick the model (default: the server's first) and probe the vectors."""
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)
        try:
            self.model = model or self._first_model()
            batched = self._request(list(_PROBE))
            singles = np.concatenate([self._request([text]) for text in _PROBE])
        except BaseException:
            self._client.close()
            raise
        self._dimension = int(batched.shape[1])
        # Inputs of one request mixed up by the server: send one text per request.
        agree = bool(np.all(np.sum(batched * singles, axis=1) > 0.999))
        self.batch_size = max(1, batch_size) if agree else 1

    @property
    def name(self) -> str:
        """Return the server model's name (the identity the vector store records)."""
        return self.model

    @property
    def dimension(self) -> int:
        """Return the length of each vector."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return one normalised vector per text, shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        parts = [
            self._request(list(texts[start : start + self.batch_size]))
            for start in range(0, len(texts), self.batch_size)
        ]
        vectors = np.concatenate(parts)
        if vectors.shape[1] != self._dimension:
            raise EmbeddingServerError(
                f"the embedding server at {self.base_url} changed its vectors from "
                f"{self._dimension} to {vectors.shape[1]} dimensions (model {self.model})"
            )
        return vectors

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _first_model(self) -> str:
        body = self._call("GET", "/models", None)
        try:
            return str(body["data"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise EmbeddingServerError(
                f"the embedding server at {self.base_url} lists no model at /models; set "
                "models.embedder_server_model"
            ) from exc

    def _request(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embed one batch and return its pooled, normalised vectors in input order."""
        payload = {"model": self.model, "input": [text or " " for text in texts]}
        body = self._call("POST", "/embeddings", payload)
        try:
            items = sorted(body["data"], key=lambda item: int(item.get("index", 0)))
            raw = [np.asarray(item["embedding"], dtype=np.float32) for item in items]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmbeddingServerError(
                f"the embedding server at {self.base_url} sent no embeddings: {exc}"
            ) from exc
        if len(raw) != len(texts):
            raise EmbeddingServerError(
                f"the embedding server at {self.base_url} returned {len(raw)} embeddings for "
                f"{len(texts)} texts"
            )
        pooled = [vector.mean(axis=0) if vector.ndim == 2 else vector for vector in raw]
        if any(vector.ndim != 1 or vector.size == 0 for vector in pooled):
            raise EmbeddingServerError(
                f"the embedding server at {self.base_url} returned embeddings of an unknown shape"
            )
        if len({vector.size for vector in pooled}) != 1:
            raise EmbeddingServerError(
                f"the embedding server at {self.base_url} returned vectors of mixed lengths"
            )
        vectors = np.stack(pooled)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise EmbeddingServerError(
                f"the embedding server at {self.base_url} returned a zero or non-finite vector"
            )
        normalised: npt.NDArray[np.float32] = (vectors / norms).astype(np.float32)
        return normalised

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> Any:
        """Send one request, retrying failures on the way; return the decoded JSON body."""
        where = f"the embedding server at {self.base_url}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._client.request(method, path, json=payload)
            except httpx.TimeoutException as exc:
                if last:
                    raise EmbeddingServerError(
                        f"{where} did not answer {path} within {self.timeout_s:g} s "
                        "(models.embedder_timeout_s)"
                    ) from exc
            except httpx.TransportError as exc:
                if last:
                    raise EmbeddingServerError(f"{where} is not answering: {exc}") from exc
            else:
                if response.status_code in _RETRY_STATUSES and not last:
                    pass
                elif response.is_error:
                    raise EmbeddingServerError(
                        f"{where} refused {path}: HTTP {response.status_code} {response.text[:300]}"
                    )
                else:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise EmbeddingServerError(
                            f"{where} sent {path} a non-JSON answer"
                        ) from exc
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")  # the last attempt returns or raises
