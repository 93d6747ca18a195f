"""An embedded MQTT 3.1.1 broker (amqtt) on loopback, for the demo when no broker is configured.

The broker runs in its own daemon thread with its own asyncio event loop, so it works the same
under a synchronous CLI, a Textual app or an ASGI server. It listens on ``127.0.0.1`` only (never
on other interfaces), accepts anonymous clients, loads no plugin but amqtt's anonymous
authentication (no ``$SYS`` topics, no packet logging, no HTTP or database plugins) and opens
no other socket. amqtt's chatty INFO logging is lowered to WARNING unless the application set
a level for those loggers itself, and amqtt's traceback for a failed start is dropped because
:meth:`EmbeddedBroker.start` raises :class:`ConnectorError` with the reason instead.

amqtt forwards a message to a subscriber at the subscription's QoS rather than at
min(published QoS, subscription QoS) as MQTT 3.1.1 asks; a QoS 0 publish reaches a QoS 1
subscriber as QoS 1. Nothing in Shiftmate depends on the delivered QoS.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeoutError
from types import TracebackType
from typing import Any

from amqtt.broker import Broker

from assistant.errors import ConnectorError

HOST = "127.0.0.1"
_LISTENER = "default"
_QUIET_LOGGERS = ("amqtt", "transitions")


class EmbeddedBroker:
    """An amqtt broker on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, port: int | None = None) -> None:
        if port is not None and not 0 <= port <= 65535:
            raise ConnectorError(f"embedded MQTT broker: port {port} is not in 0..65535")
        self._requested_port = port or 0
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def host(self) -> str:
        """Return the address the broker listens on (always loopback)."""
        return HOST

    @property
    def port(self) -> int:
        """Return the port the broker listens on; raise ConnectorError if it is not running."""
        if self._port is None:
            raise ConnectorError("the embedded MQTT broker is not running")
        return self._port

    @property
    def running(self) -> bool:
        """Return whether the broker is started and listening."""
        return self._port is not None

    def start(self, timeout: float = 10.0) -> int:
        """Start listening on 127.0.0.1 and return the port; raise ConnectorError on failure."""
        if self._port is not None:
            return self._port
        _quiet_logging()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_loop, args=(loop,), name="shiftmate-embedded-mqtt", daemon=True
        )
        thread.start()
        self._loop, self._thread = loop, thread
        where = f"{HOST}:{self._requested_port or '(free port)'}"
        future = asyncio.run_coroutine_threadsafe(self._start_broker(), loop)
        try:
            self._port = future.result(timeout)
        except FutureTimeoutError as exc:
            future.cancel()
            self._halt_loop(timeout)
            raise ConnectorError(
                f"the embedded MQTT broker did not start on {where} within {timeout:g} s"
            ) from exc
        except Exception as exc:
            self._halt_loop(timeout)
            raise ConnectorError(
                f"cannot start the embedded MQTT broker on {where}: {_reason(exc)}"
            ) from exc
        return self._port

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect every client, close the listener and end the thread (idempotent)."""
        loop = self._loop
        if loop is None:
            return
        failure: BaseException | None = None
        if self._broker is not None:
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
            try:
                future.result(timeout)
            except FutureTimeoutError as exc:
                future.cancel()
                failure = exc
            except Exception as exc:
                failure = exc
        self._broker = None
        self._port = None
        self._halt_loop(timeout)
        if failure is not None:
            raise ConnectorError(
                f"the embedded MQTT broker did not shut down cleanly: {_reason(failure)}"
            ) from failure

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _start_broker(self) -> int:
        config = {
            "listeners": {
                _LISTENER: {"type": "tcp", "bind": f"{HOST}:{self._requested_port}"},
            },
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        broker = Broker(config)
        await broker.start()
        self._broker = broker
        # amqtt keeps the asyncio servers it started per listener; with port 0 the
        # kernel chose the port, and only the bound socket knows which.
        server = broker._servers[_LISTENER].instance
        port: int = server.sockets[0].getsockname()[1]
        return port

    def _halt_loop(self, timeout: float) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            raise ConnectorError(
                f"the embedded MQTT broker thread did not end within {timeout:g} s"
            )
        loop.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())


class _DropStartupFailure(logging.Filter):
    """Drop amqtt's traceback for a failed start: start() raises ConnectorError with the reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Broker startup failed"


_STARTUP_FILTER = _DropStartupFailure()


def _quiet_logging() -> None:
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    broker_logger = logging.getLogger("amqtt.broker")
    if _STARTUP_FILTER not in broker_logger.filters:
        broker_logger.addFilter(_STARTUP_FILTER)


def _reason(exc: BaseException) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause) or type(cause).__name__
