"""The HTTPS uplink to the cloud receiver, over httpx: bearer token, TLS, gzip.

A 200 with a full acknowledgement delivers a batch; 400, 403 and 413 are permanent refusals
(:class:`~assistant.schema.sync.BatchRefused`, the records go to quarantine); anything else
(401, 5xx, a timeout) is retried with the backoff.

The client ignores proxy variables and ``.netrc`` (``trust_env=False``): Shiftmate opens a
connection to the configured endpoint and to nothing else.
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Self

import httpx

from assistant.errors import ConfigError
from assistant.schema.sync import Ack, UplinkError, compress, decode_ack, refusal
from assistant.settings import SyncSettings

RECORDS_PATH = "/v1/records"


def _ssl_context(settings: SyncSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if settings.cert_file is not None:
            context.load_cert_chain(
                str(settings.cert_file), str(settings.key_file) if settings.key_file else None
            )
    except OSError as exc:  # ssl.SSLError is an OSError too
        raise ConfigError(
            f"sync TLS files (ca_file, cert_file, key_file) cannot be loaded: {exc}"
        ) from exc
    return context


def _reason(response: httpx.Response) -> str:
    """Return the receiver's reason code of a refusal (``http_<status>`` without one)."""
    try:
        reason = response.json().get("reason")
    except (ValueError, AttributeError):
        reason = None
    return reason if isinstance(reason, str) and reason else f"http_{response.status_code}"


class HttpsUplink:
    """Posts batches to ``<sync.endpoint>/v1/records``; one connection, kept alive."""

    def __init__(self, settings: SyncSettings) -> None:
        if not settings.endpoint:
            raise ConfigError("sync.endpoint is not set: there is no cloud receiver to send to")
        if settings.token is None:
            raise ConfigError("sync.token is not set: the cloud receiver needs this site's token")
        self._url = settings.endpoint.rstrip("/") + RECORDS_PATH
        self._gzip = settings.gzip
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            verify=_ssl_context(settings) if self._url.startswith("https:") else True,
            trust_env=False,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {settings.token.get_secret_value()}",
                "Content-Type": "application/json",
            },
        )

    @property
    def where(self) -> str:
        """Return the receiver's URL, for messages."""
        return self._url

    def send(self, payload: bytes, count: int) -> tuple[Ack, int]:
        """Send one batch of ``count`` records; return the acknowledgement and bytes sent."""
        headers = {}
        body = payload
        if self._gzip:
            body = compress(payload)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise UplinkError(f"cloud receiver {self._url} timed out: {exc}") from exc
        except httpx.HTTPError as exc:
            raise UplinkError(f"cannot reach cloud receiver {self._url}: {exc}") from exc
        if response.status_code != 200:
            status = response.status_code
            detail = response.text[:200].replace("\n", " ")
            message = f"cloud receiver {self._url} answered {status}: {detail}"
            raise refusal(status, _reason(response), message)
        return decode_ack(response.content, count), len(body)

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
