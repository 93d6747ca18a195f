"""The Chroma client the vector store talks to: embedded in the data directory, or a server.

Without ``knowledge.chroma_url`` the collections live in ``<data_dir>/chroma`` (a
``PersistentClient``, as always). With it, they live in a Chroma server (``chroma run``): the
server must answer a heartbeat within ``knowledge.chroma_timeout_s`` at open, every request
afterwards has the same time limit, and any failure is a :class:`KnowledgeError` naming the
server's URL. The manifest and the full-text index stay in the journal either way.

A server may be shared by several Shiftmate processes. Its collections are tied to one data
directory (one journal, whose manifest says what the collection holds) by an owner id: a random
id kept in ``<data_dir>/knowledge-owner`` and recorded in the collection's metadata (see
``ChunkStore``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from assistant.errors import KnowledgeError
from assistant.settings import KnowledgeSettings

OWNER_FILE = "knowledge-owner"
"""The file in the data directory that holds its owner id (one line, 32 hex digits)."""

_TOKEN_PROVIDER = "chromadb.auth.token_authn.TokenAuthClientProvider"


@dataclass(frozen=True, slots=True)
class ChromaConnection:
    """An open Chroma client and how to name it in a message."""

    client: Any
    """A chromadb ``ClientAPI`` (for a server: one whose failures raise KnowledgeError)."""
    where: str
    """``the vector store in DIR`` or ``the Chroma server at URL``."""
    url: str | None
    """The server's URL; None for the embedded store."""

    @property
    def remote(self) -> bool:
        """Return whether the collections live in a Chroma server."""
        return self.url is not None

    def close(self) -> None:
        """Release a server client and its connections (the embedded store stays open)."""
        if self.url is None:
            return
        target = getattr(self.client, "_target", self.client)
        # chromadb 1.x: the client and its internal admin client each hold an httpx.Client
        # that close() leaves open.
        sessions = [
            getattr(getattr(owner, "_server", None), "_session", None)
            for owner in (target, getattr(target, "_admin_client", None))
        ]
        with contextlib.suppress(Exception):  # closing must not hide what made us close
            target.close()
        for session in sessions:
            if isinstance(session, httpx.Client):
                session.close()


def connect(settings: KnowledgeSettings, directory: Path) -> ChromaConnection:
    """Open the configured Chroma: the server at ``chroma_url``, else embedded in ``directory``."""
    if settings.chroma_url is None:
        return connect_embedded(directory)
    token = settings.chroma_token.get_secret_value() if settings.chroma_token else None
    return connect_server(settings.chroma_url, token=token, timeout_s=settings.chroma_timeout_s)


def connect_embedded(directory: Path) -> ChromaConnection:
    """Open (creating it if needed) the embedded Chroma store in ``directory``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    where = f"the vector store in {directory}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(directory),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
    except Exception as exc:  # chromadb raises many unrelated types for a damaged store
        raise KnowledgeError(f"cannot open {where}: {exc}") from exc
    return ChromaConnection(client, where, None)


def connect_server(url: str, *, token: str | None, timeout_s: float) -> ChromaConnection:
    """Connect to a Chroma server, checking first that it answers a heartbeat in time.

    The token goes as ``Authorization: Bearer <token>`` (chromadb's token client provider).
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    base = url.rstrip("/")
    where = f"the Chroma server at {base}"
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KnowledgeError(f"{where}: not an http(s)://host:port URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    heartbeat(base, headers, timeout_s)
    options: dict[str, Any] = {"anonymized_telemetry": False, "allow_reset": False}
    if token:
        options |= {
            "chroma_client_auth_provider": _TOKEN_PROVIDER,
            "chroma_client_auth_credentials": token,
            "chroma_auth_token_transport_header": "Authorization",
        }
    try:
        client = chromadb.HttpClient(
            host=parts.hostname,
            port=port,
            ssl=parts.scheme == "https",
            settings=ChromaSettings(**options),
        )
    except Exception as exc:  # chromadb: ValueError, ChromaError, httpx errors, ...
        raise KnowledgeError(f"{where} cannot be used: {_reason(exc, timeout_s)}") from exc
    _limit_requests(client, timeout_s)
    return ChromaConnection(_Guarded(client, where, timeout_s), where, base)


def heartbeat(base: str, headers: dict[str, str], timeout_s: float) -> None:
    """Raise KnowledgeError unless the server at ``base`` answers ``/api/v2/heartbeat`` in time."""
    try:
        response = httpx.get(f"{base}/api/v2/heartbeat", headers=headers, timeout=timeout_s)
        response.raise_for_status()
        response.json()["nanosecond heartbeat"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise KnowledgeError(
            f"the Chroma server at {base} is not answering: {_reason(exc, timeout_s)}"
        ) from exc


def owner_id(data_dir: Path) -> str:
    """Return this data directory's owner id, creating it on first use (safe between processes).

    The id is written to a temporary file and linked into place, so two processes starting at
    once agree on one id and neither reads a half-written file.
    """
    path = data_dir / OWNER_FILE
    if not path.exists():
        temporary = data_dir / f".{OWNER_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            temporary.write_text(secrets.token_hex(16) + "\n", encoding="ascii")
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)  # fails if another process was first: keep theirs
        except OSError as exc:
            raise KnowledgeError(f"cannot write the owner id file {path}: {exc}") from exc
        finally:
            temporary.unlink(missing_ok=True)
    try:
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"cannot read the owner id file {path}: {exc}") from exc
    if not value:
        raise KnowledgeError(f"the owner id file {path} is empty; delete it to make a new one")
    return value


def _limit_requests(client: Any, timeout_s: float) -> None:
    """Give every request of a chromadb HTTP client a time limit (chromadb sets none).

    chromadb 1.x keeps its ``httpx.Client`` at ``client._server._session``; when a later version
    moves it, requests keep chromadb's own behaviour (no limit) rather than failing.
    """
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout_s)


def _reason(exc: BaseException, timeout_s: float) -> str:
    """Return a short reason for a failed request."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout_s:g} s (knowledge.chroma_timeout_s)"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} {exc.response.text[:200]}"
    return f"{exc}" or type(exc).__name__


class _Guarded:
    """A chromadb client or collection whose failures raise KnowledgeError naming the server.

    Collections it returns are guarded too; attributes that are not methods pass through.
    """

    __slots__ = ("_target", "_timeout_s", "_where")

    def __init__(self, target: Any, where: str, timeout_s: float) -> None:
        self._target = target
        self._where = where
        self._timeout_s = timeout_s

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value
        return self._call(name, value)

    def _call(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        from chromadb.api.models.Collection import Collection

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
            except Exception as exc:  # chromadb and httpx raise many unrelated types
                raise KnowledgeError(
                    f"{self._where} failed ({name}): {_reason(exc, self._timeout_s)}"
                ) from exc
            if isinstance(result, Collection):
                return _Guarded(result, self._where, self._timeout_s)
            return result

        return call
