"""Answer units of the stored chunks, with their vectors, kept in the journal database.

They are written in the same transaction as the lexical index and the manifest, so
re-ingestion keeps them in step with the chunks. A chunk stored before units existed has none
here; callers cut and embed its units on the fly (see :mod:`assistant.chat.units_ranker`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from assistant.db import Database
from assistant.domain import AnswerUnit

Vector = npt.NDArray[np.float32]


class UnitIndex:
    """Stored answer units of chunks, with one embedding each."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def replace(
        conn: sqlite3.Connection,
        remove_chunk_ids: Iterable[str],
        units: Sequence[AnswerUnit],
        vectors: Vector | None,
    ) -> None:
        """Inside a transaction: drop the units of chunks by id and add units with vectors."""
        if vectors is not None and len(vectors) != len(units):
            raise ValueError(f"{len(units)} units but {len(vectors)} vectors")
        conn.executemany(
            "DELETE FROM chunk_units WHERE chunk_id = ?", [(i,) for i in remove_chunk_ids]
        )
        conn.executemany(
            "INSERT INTO chunk_units (chunk_id, idx, kind, start, end_, text, marker, grp, "
            "lead, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    u.chunk_id,
                    u.index,
                    u.kind,
                    u.start,
                    u.end,
                    u.text,
                    u.marker,
                    u.group,
                    u.lead,
                    None if vectors is None else np.asarray(vectors[i], np.float32).tobytes(),
                )
                for i, u in enumerate(units)
            ],
        )

    def get(self, chunk_ids: Sequence[str]) -> dict[str, list[tuple[AnswerUnit, Vector | None]]]:
        """Return the stored units (with vectors) of these chunks; chunks with none are absent."""
        found: dict[str, list[tuple[AnswerUnit, Vector | None]]] = {}
        if not chunk_ids:
            return found
        marks = ", ".join("?" for _ in chunk_ids)
        rows = self._db.query(
            "SELECT chunk_id, idx, kind, start, end_, text, marker, grp, lead, vector "
            f"FROM chunk_units WHERE chunk_id IN ({marks}) ORDER BY chunk_id, idx",
            tuple(chunk_ids),
        )
        for row in rows:
            unit = AnswerUnit(
                chunk_id=str(row[0]),
                index=int(row[1]),
                kind=row[2],
                start=int(row[3]),
                end=int(row[4]),
                text=str(row[5]),
                marker=str(row[6]),
                group=int(row[7]),
                lead=str(row[8]),
            )
            vector = np.frombuffer(row[9], dtype=np.float32) if row[9] is not None else None
            found.setdefault(unit.chunk_id, []).append((unit, vector))
        return found

    def chunk_ids(self) -> set[str]:
        """Return the ids of the chunks that have units stored."""
        rows = self._db.query("SELECT DISTINCT chunk_id FROM chunk_units")
        return {str(row[0]) for row in rows}

    def count(self) -> int:
        """Return how many units are stored."""
        row = self._db.query_one("SELECT COUNT(*) FROM chunk_units")
        return int(row[0]) if row else 0
