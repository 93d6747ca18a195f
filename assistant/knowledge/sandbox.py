"""Document parsing in a child process with memory and time limits.

Parsing is the step that handles hostile bytes: a DOCX bomb, a PDF content stream that
inflates without end, a parser stuck in a loop. It runs in a long-lived child process started
with the ``spawn`` method (the parent has threads, so never ``fork``); the child caps its own
address space with ``RLIMIT_AS`` (``knowledge.parse_memory_mb``) and each parse has a
wall-clock limit (``knowledge.parse_timeout_s``), past which the child is killed. The child
only parses and returns the text; embedding and storing stay in the parent. A child that runs
out of memory, crashes or is killed is replaced at the next parse, and its document is refused
with a :class:`DocumentError` whose ``code`` says why, so ``serve`` (and its telemetry) go on.
"""

from __future__ import annotations

import multiprocessing
import resource
import signal
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from assistant.domain import LoadedDocument
from assistant.errors import DocumentError, KnowledgeError
from assistant.ports import DocumentLoader

START_TIMEOUT_S = 120.0
"""How long a new child may take to import the parsers (slow on a busy machine)."""


class ParseSandbox:
    """A document loader that runs another one in a memory- and time-limited child process."""

    def __init__(self, loader: DocumentLoader, *, memory_mb: int, timeout_s: float) -> None:
        """Wrap a picklable loader; the child starts at the first call."""
        self._loader = loader
        self._memory_mb = memory_mb
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._child: tuple[BaseProcess, Connection] | None = None

    @property
    def suffixes(self) -> frozenset[str]:
        """Return the suffixes the wrapped loader reads."""
        return self._loader.suffixes

    def load(self, path: Path, max_bytes: int) -> LoadedDocument:
        """Parse one document in the child; raise DocumentError if it fails or is refused."""
        document = self._call("load", path, max_bytes)
        if not isinstance(document, LoadedDocument):
            raise KnowledgeError(f"the document parser sent {type(document).__name__}")
        return document

    def check(self, path: Path, max_bytes: int) -> None:
        """Check one document against the limits in the child (its container only)."""
        self._call("check", path, max_bytes)

    def close(self) -> None:
        """Stop the child (safe to call twice; a later call starts a new one)."""
        with self._lock:
            self._stop()

    def _call(self, operation: str, path: Path, max_bytes: int) -> Any:
        source = str(path)
        with self._lock:
            _, conn = self._running()
            try:
                conn.send((operation, source, max_bytes))
                answered = conn.poll(self._timeout_s)
            except (OSError, EOFError):
                answered = True  # the child is gone: recv below says so
            if not answered:
                self._stop()
                raise DocumentError(
                    source,
                    f"refused: parsing took longer than {self._timeout_s:g} s "
                    "(knowledge.parse_timeout_s)",
                    code="parse_timeout",
                )
            try:
                reply = conn.recv()
            except (OSError, EOFError):
                how = _describe_exit(self._stop())
                raise DocumentError(
                    source,
                    f"refused: the document parser {how}, most likely over its memory limit of "
                    f"{self._memory_mb} MB (knowledge.parse_memory_mb)",
                    code="parse_crashed",
                ) from None
            if reply[0] == "memory":
                self._stop()  # its heap may be left fragmented and large: start afresh
                raise DocumentError(
                    source,
                    f"refused: parsing needs more than {self._memory_mb} MB of memory "
                    "(knowledge.parse_memory_mb)",
                    code="parse_memory",
                )
        if reply[0] == "refused":
            raise DocumentError(reply[1], reply[2], code=reply[3])
        return reply[1]

    def _running(self) -> tuple[BaseProcess, Connection]:
        if self._child is not None and self._child[0].is_alive():
            return self._child
        self._stop()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self._loader, self._memory_mb * 1024 * 1024),
            name="shiftmate-parser",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._child = (process, ours)
        try:
            started = ours.poll(START_TIMEOUT_S) and ours.recv() == ("ready",)
        except (OSError, EOFError):
            started = False
        if not started:
            how = _describe_exit(self._stop())
            raise KnowledgeError(
                f"the document parser process did not start ({how}); is "
                f"knowledge.parse_memory_mb ({self._memory_mb}) too small?"
            )
        return self._child

    def _stop(self) -> int | None:
        """Kill the child, if any, and return its exit code."""
        if self._child is None:
            return None
        process, conn = self._child
        self._child = None
        if process.is_alive():
            process.kill()  # before closing the pipe: a child parses, it never needs a goodbye
        process.join(timeout=10)
        conn.close()
        code = process.exitcode
        if code is not None:
            process.close()
        return code


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not answer"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _serve(conn: Connection, loader: DocumentLoader, memory_bytes: int) -> None:
    """The child: cap the address space, then parse what the parent asks until it hangs up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    conn.send(("ready",))
    while True:
        try:
            operation, source, max_bytes = conn.recv()
        except (EOFError, OSError):
            return
        reply = _parse(loader, operation, source, max_bytes)
        try:
            conn.send(reply)
        except MemoryError:  # the parsed text fitted, its pickle did not
            del reply
            conn.send(("memory",))


def _parse(loader: DocumentLoader, operation: str, source: str, max_bytes: int) -> tuple[Any, ...]:
    try:
        if operation == "check":
            loader.check(Path(source), max_bytes)
            return ("ok", None)
        return ("ok", loader.load(Path(source), max_bytes))
    except DocumentError as exc:
        return ("refused", exc.source, exc.reason, exc.code)
    except MemoryError:
        pass  # answered below, once the frames holding the memory are gone
    except Exception as exc:  # a loader must raise DocumentError; name anything else
        return ("refused", source, f"cannot parse: {type(exc).__name__}: {exc}"[:300], "")
    return ("memory",)
