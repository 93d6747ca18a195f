"""The reading log: an append-only file of every reading the store took, for crash recovery.

The snapshot (``snapshot.py``) holds the telemetry as it was when it was taken; this log holds
what arrived since, so that a process killed between two snapshots loses nothing it has
acknowledged to the broker. The store appends each batch before it takes it in, and the
connector acknowledges the batch's messages only after that, so every acknowledged reading is
either in the last snapshot or in the log.

Layout: numbered segments ``readings-00000001.log`` in one folder. A segment starts with a
header line (``SMRL1`` and the JSON list of the tag keys its records refer to by index);
records follow, one per batch: ``<magic u32, count u32, crc32 u32>`` then ``count`` rows of
``<tag index u32, ts f64, value f64>`` (20 bytes a reading). Taking a snapshot starts a new
segment (:meth:`ReadingLog.rotate`); once the snapshot is durable the older segments are
deleted (:meth:`ReadingLog.drop_before`).

Durability: each append is written with ``os.write`` (a process crash keeps it) and, with
``fsync`` on, flushed to the disk before returning (a power cut keeps it too). A crash while
writing leaves at most a torn last record, which :func:`read_segments` stops at: that batch
was never acknowledged, and the broker delivers it again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

MAGIC_LINE = b"SMRL1"
RECORD_MAGIC = 0x4C52534D
RECORD_HEADER = struct.Struct("<III")
ROW = np.dtype([("tag", "<u4"), ("ts", "<f8"), ("value", "<f8")])
SEGMENT = re.compile(r"^readings-(\d{8})\.log$")

Key = tuple[str, str]
Rows = NDArray[np.void]


def segment_name(number: int) -> str:
    """Return the file name of segment ``number``."""
    return f"readings-{number:08d}.log"


def segment_numbers(folder: Path) -> list[int]:
    """Return the numbers of the segments in a folder, oldest first."""
    if not folder.is_dir():
        return []
    found = (SEGMENT.match(path.name) for path in folder.iterdir())
    return sorted(int(match[1]) for match in found if match)


def fsync_folder(folder: Path) -> None:
    """Make a folder's entries (a created, renamed or deleted file) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ReadingLog:
    """Appends batches of readings to the current segment; thread-safe."""

    def __init__(self, folder: Path, keys: Sequence[Key], *, fsync: bool = True) -> None:
        self.folder = folder
        self.keys = list(keys)
        self.fsync = fsync
        self._lock = threading.Lock()
        numbers = segment_numbers(folder)
        self.segment = numbers[-1] + 1 if numbers else 1
        self._fd = self._open(self.segment)
        self.appended = 0
        """Readings appended since start."""

    def append(self, rows: Rows) -> None:
        """Write one batch of rows (dtype ROW); durable when this returns (see the module)."""
        if len(rows) == 0:
            return
        body = rows.tobytes()
        record = RECORD_HEADER.pack(RECORD_MAGIC, len(rows), zlib.crc32(body)) + body
        with self._lock:
            _write_all(self._fd, record)
            if self.fsync:
                os.fsync(self._fd)
            self.appended += len(rows)

    def rotate(self) -> int:
        """Start a new segment for what follows; return its number."""
        with self._lock:
            fd = self._open(self.segment + 1)
            os.close(self._fd)
            self._fd = fd
            self.segment += 1
            return self.segment

    def drop_before(self, number: int) -> None:
        """Delete the segments older than ``number`` (they are in a durable snapshot)."""
        dropped = False
        for old in segment_numbers(self.folder):
            if old < number:
                (self.folder / segment_name(old)).unlink(missing_ok=True)
                dropped = True
        if dropped:
            fsync_folder(self.folder)

    def close(self) -> None:
        """Close the current segment."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _open(self, number: int) -> int:
        path = self.folder / segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        header = MAGIC_LINE + b" " + json.dumps(self.keys).encode() + b"\n"
        _write_all(fd, header)
        os.fsync(fd)
        fsync_folder(self.folder)
        return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_segments(folder: Path, first: int) -> Iterator[tuple[list[Key], Rows]]:
    """Yield (keys, rows) batch by batch from segments ``first`` on, oldest first.

    A segment whose header cannot be read is skipped with a warning; reading a segment stops
    at a torn or corrupt record (a torn tail is what a crash mid-write leaves).
    """
    for number in segment_numbers(folder):
        if number < first:
            continue
        path = folder / segment_name(number)
        data = path.read_bytes()
        newline = data.find(b"\n")
        try:
            if newline < 0 or not data.startswith(MAGIC_LINE + b" "):
                raise ValueError("no SMRL1 header line")
            keys = [(str(a), str(t)) for a, t in json.loads(data[len(MAGIC_LINE) + 1 : newline])]
        except (ValueError, TypeError) as exc:
            log.warning("skipping telemetry reading log %s: unreadable header (%s)", path, exc)
            continue
        position = newline + 1
        while position < len(data):
            end = position + RECORD_HEADER.size
            if end > len(data):
                log.info("telemetry reading log %s ends in a torn record (crash)", path)
                break
            magic, count, crc = RECORD_HEADER.unpack_from(data, position)
            body = data[end : end + count * ROW.itemsize]
            if magic != RECORD_MAGIC or len(body) < count * ROW.itemsize:
                log.info("telemetry reading log %s ends in a torn record (crash)", path)
                break
            if zlib.crc32(body) != crc:
                log.warning("telemetry reading log %s has a corrupt record; stopping there", path)
                break
            rows = np.frombuffer(body, dtype=ROW)
            if len(rows) and int(rows["tag"].max()) >= len(keys):
                log.warning("telemetry reading log %s refers to unknown tags; stopping", path)
                break
            yield keys, rows
            position = end + len(body)
