"""The edge's side of the uplink for models: list the signed manifests, fetch a file resumably.

It uses the uplink the site syncs with (``sync.endpoint``, ``sync.token``, ``sync.ca_file`` and
the client certificate for mutual TLS). A download goes to ``<target>.part``; when that file is
already there (an earlier download was cut), the request asks for the rest with
``Range: bytes=<have>-`` and appends; a server that ignores the range (200) starts it over.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import httpx

from assistant.errors import ConfigError, UpdateError
from assistant.settings import SyncSettings
from assistant.updates.manifest import SignedManifest

MODELS_PATH = "/v1/models"
CHUNK = 1 << 20

Progress = Callable[[int, int], None]
"""Called with (bytes on disk, total bytes) as a download goes on."""


def _verify(settings: SyncSettings, url: str) -> ssl.SSLContext | bool:
    if not url.startswith("https:"):
        return True
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if settings.cert_file is not None:
            context.load_cert_chain(
                str(settings.cert_file), str(settings.key_file) if settings.key_file else None
            )
    except OSError as exc:
        raise ConfigError(f"sync TLS files cannot be loaded: {exc}") from exc
    return context


class ModelClient:
    """Talks to ``<sync.endpoint>/v1/models`` with this site's bearer token."""

    def __init__(self, settings: SyncSettings) -> None:
        if not settings.endpoint:
            raise ConfigError(
                "sync.endpoint is not set: there is no cloud to fetch models from "
                "(an offline site uses shiftmate models import BUNDLE)"
            )
        if settings.token is None:
            raise ConfigError("sync.token is not set: the cloud receiver needs this site's token")
        self.base = settings.endpoint.rstrip("/")
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            verify=_verify(settings, self.base),
            trust_env=False,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {settings.token.get_secret_value()}"},
        )

    def _fail(self, what: str, exc: Exception) -> UpdateError:
        return UpdateError(f"{what} from {self.base} failed: {exc}")

    def offered(self) -> list[SignedManifest]:
        """Return the signed manifests the cloud offers (not yet verified)."""
        try:
            response = self._client.get(self.base + MODELS_PATH)
        except httpx.HTTPError as exc:
            raise self._fail("listing the models", exc) from exc
        self._check(response, "listing the models")
        body: Any = response.json()
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list):
            raise UpdateError(f"{self.base}{MODELS_PATH} did not answer a list of models")
        return [SignedManifest.from_dict(m) for m in models]

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (200, 206):
            return
        try:
            response.read()  # a streamed answer's error body
            detail = str(response.json().get("error"))
        except (ValueError, AttributeError):
            detail = response.text[:200]
        raise UpdateError(f"{what}: the cloud answered {response.status_code}: {detail}")

    def download(
        self, name: str, version: str, target: Path, size: int, progress: Progress | None = None
    ) -> Path:
        """Fetch a model file into ``target`` (through ``target.part``, resumed if present).

        Returns ``target``. A cut connection leaves the ``.part`` file for the next attempt and
        raises UpdateError; more bytes than ``size`` are refused.
        """
        part = target.with_name(target.name + ".part")
        target.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        url = f"{self.base}{MODELS_PATH}/{quote(name, safe='')}/{quote(version, safe='')}"
        what = f"downloading {name} {version}"
        if have < size:
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with self._client.stream("GET", url, headers=headers) as response:
                    self._check(response, what)
                    mode = "ab" if response.status_code == 206 and have else "wb"
                    if mode == "wb":
                        have = 0
                    with part.open(mode) as file:
                        for chunk in response.iter_bytes(CHUNK):
                            have += len(chunk)
                            if have > size:
                                raise UpdateError(f"{what}: more than the {size} bytes announced")
                            file.write(chunk)
                            if progress is not None:
                                progress(have, size)
            except httpx.HTTPError as exc:
                raise UpdateError(
                    f"{what} was cut at {have} of {size} bytes ({exc}); run it again to resume"
                ) from exc
        if have != size:
            raise UpdateError(
                f"{what} ended at {have} of {size} bytes; run it again to resume from {part}"
            )
        part.replace(target)
        return target

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
