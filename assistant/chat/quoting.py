"""Where the answer units of a passage come from: the unit index, or cut on the fly.

Units are stored at ingestion (with their vectors). A chunk ingested before units existed has
none stored: its units are cut and embedded here once and kept in a small cache. A list that
chunking cut in two is followed into the neighbouring chunk of the same section.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from assistant.domain import AnswerUnit, Chunk
from assistant.knowledge.store import ChunkStore
from assistant.knowledge.unit_index import UnitIndex
from assistant.knowledge.units import chunk_units, unit_embedding_text
from models.embedder import TextEmbedder

Vector = npt.NDArray[np.float32]
CACHE_CHUNKS = 2048
MAX_CONTINUATION = 3
_CHUNK_NUMBER = re.compile(r"^(.*):(\d+)$")
_STEP_NUMBER = re.compile(r"\d+")


class UnitSource:
    """Answer units (with vectors) of chunks, from the index or cut and embedded on demand."""

    def __init__(self, index: UnitIndex, embedder: TextEmbedder, store: ChunkStore) -> None:
        self._index = index
        self._embedder = embedder
        self._store = store
        self._cache: OrderedDict[str, list[tuple[AnswerUnit, Vector]]] = OrderedDict()

    def load(self, chunks: Sequence[Chunk]) -> dict[str, list[tuple[AnswerUnit, Vector]]]:
        """Return the units and vectors of these chunks."""
        found: dict[str, list[tuple[AnswerUnit, Vector]]] = {}
        wanted = [c for c in chunks if c.id not in self._cache]
        stored = self._index.get([c.id for c in wanted])
        missing: list[tuple[Chunk, AnswerUnit]] = []
        for chunk in wanted:
            rows = stored.get(chunk.id)
            if rows and all(vector is not None for _, vector in rows):
                self._remember(chunk.id, [(u, v) for u, v in rows if v is not None])
            else:
                missing += [(chunk, unit) for unit in chunk_units(chunk)]
                self._remember(chunk.id, [])
        if missing:
            vectors = self._embedder.embed([unit_embedding_text(c, u) for c, u in missing])
            for (chunk, unit), vector in zip(missing, vectors, strict=True):
                self._cache[chunk.id].append((unit, vector))
        for chunk in chunks:
            found[chunk.id] = self._cache.get(chunk.id, [])
        return found

    def units_of(self, chunk: Chunk) -> list[AnswerUnit]:
        """Return a chunk's units in reading order."""
        return [unit for unit, _ in self.load([chunk])[chunk.id]]

    def whole_list(self, chunk: Chunk, group: int) -> list[tuple[Chunk, list[AnswerUnit]]]:
        """Return a list's parts in order: this chunk's items of the group, preceded and
        followed by the items of the same list in neighbouring chunks of the same section
        (chunking may cut a long list)."""
        items = [u for u in self.units_of(chunk) if u.group == group]
        if not items:
            return []
        parts = [(chunk, items)]
        for step in (-1, 1):
            current, edge = chunk, items[0] if step < 0 else items[-1]
            for _ in range(MAX_CONTINUATION):
                units = self.units_of(current)
                at_edge = units[0] if step < 0 else units[-1]
                if at_edge.index != edge.index:
                    break
                neighbour = self._neighbour(current, step)
                if neighbour is None or neighbour.section != current.section:
                    break
                more = self.units_of(neighbour)
                if not more:
                    break
                touching = more[-1] if step < 0 else more[0]
                if touching.kind != edge.kind or touching.group < 0:
                    break
                gap = _number(edge.marker) - _number(touching.marker)
                if edge.kind == "step" and gap != -step:
                    break
                found = [u for u in more if u.group == touching.group]
                if step < 0:
                    parts.insert(0, (neighbour, found))
                    edge = found[0]
                else:
                    parts.append((neighbour, found))
                    edge = found[-1]
                current = neighbour
        return parts

    def list_after(self, chunk: Chunk, unit: AnswerUnit) -> tuple[Chunk, int] | None:
        """Return the list (chunk, group) that follows a lead-in unit, in its chunk or the next
        chunk of the same section."""
        units = self.units_of(chunk)
        following = [u for u in units if u.index == unit.index + 1]
        if not following and units and units[-1].index == unit.index:
            neighbour = self._neighbour(chunk, 1)
            if neighbour is not None and neighbour.section == chunk.section:
                more = self.units_of(neighbour)
                if more and more[0].kind in ("step", "item") and more[0].group >= 0:
                    return neighbour, more[0].group
            return None
        if following and following[0].kind in ("step", "item") and following[0].group >= 0:
            return chunk, following[0].group
        return None

    def _neighbour(self, chunk: Chunk, step: int) -> Chunk | None:
        match = _CHUNK_NUMBER.match(chunk.id)
        if match is None:
            return None
        number = int(match.group(2)) + step
        if number < 0:
            return None
        found = self._store.get([f"{match.group(1)}:{number}"])
        return found[0] if found else None

    def _remember(self, chunk_id: str, rows: list[tuple[AnswerUnit, Vector]]) -> None:
        self._cache[chunk_id] = rows
        self._cache.move_to_end(chunk_id)
        while len(self._cache) > CACHE_CHUNKS:
            self._cache.popitem(last=False)


def _number(marker: str) -> int:
    match = _STEP_NUMBER.search(marker)
    return int(match.group(0)) if match else -1
