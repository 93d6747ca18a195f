"""The receiver's model routes: the signed manifests on offer, and the files, resumable.

``GET /v1/models`` answers ``{"models": [<signed manifest>, ...]}``;
``GET /v1/models/{name}/{version}`` answers the GGUF, honouring ``Range: bytes=START-[END]``
(206 with ``Content-Range``; 416 past the end), so an edge resumes a cut download. Both sit
behind the receiver's token guard: any site's token (or the health token) may read them.
The files are those ``shiftmate cloud publish-model`` keeps under ``<store folder>/models``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from assistant.errors import UpdateError
from assistant.updates.manifest import MODEL_FILE, check_name
from assistant.updates.publish import published, published_dir

if TYPE_CHECKING:
    from assistant.cloud.receiver import Receiver

CHUNK = 1 << 20


def models_root(receiver: Receiver) -> Path:
    """Return where the receiver's published models are (beside its store)."""
    return receiver.store.directory / "models"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the (first, last) byte of a single ``bytes=`` range, None for the whole file.

    Raises ValueError for a range that cannot be satisfied or is not understood.
    """
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if match is None or match.group(1) == match.group(2) == "":
        raise ValueError(f"unsupported range '{header}'")
    first_text, last_text = match.groups()
    if first_text == "":  # a suffix: the last N bytes
        first, last = max(0, size - int(last_text)), size - 1
    else:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        raise ValueError(f"range '{header}' is outside the {size} bytes")
    return first, last


def _chunks(path: Path, first: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as file:
        file.seek(first)
        left = length
        while left > 0:
            chunk = file.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def mount_models(app: FastAPI, receiver: Receiver) -> None:
    """Add the model routes to the receiver's app."""

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        """Return the signed manifests of every published model version."""
        found = await run_in_threadpool(published, models_root(receiver))
        return {"models": [signed.as_dict() for signed, _ in found]}

    @app.get("/v1/models/{name}/{version}")
    def model_file(name: str, version: str, request: Request) -> Response:
        """Return a published GGUF, or the byte range asked for (206)."""
        try:
            path = published_dir(models_root(receiver), name, version) / MODEL_FILE
            check_name(version, "version")
        except UpdateError as exc:
            return JSONResponse({"error": str(exc), "reason": "invalid"}, status_code=400)
        if not path.is_file():
            message = f"no published model {name} {version}"
            return JSONResponse({"error": message, "reason": "not_found"}, status_code=404)
        size = path.stat().st_size
        try:
            wanted = byte_range(request.headers.get("range"), size)
        except ValueError as exc:
            return JSONResponse(
                {"error": str(exc), "reason": "range"},
                status_code=416,
                headers={"Content-Range": f"bytes */{size}"},
            )
        first, last = wanted if wanted is not None else (0, size - 1)
        length = last - first + 1
        headers = {"Accept-Ranges": "bytes", "Content-Length": str(length)}
        if wanted is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return StreamingResponse(
            _chunks(path, first, length),
            status_code=206 if wanted is not None else 200,
            media_type="application/octet-stream",
            headers=headers,
        )
