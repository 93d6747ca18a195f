"""Energy isolation from the asset's lockout procedure, found and read by code.

The plant file may name an asset's lockout procedure (``assets[].lockout_doc``, an ingested
path or file name): that document is used, and a draft for the asset is refused while it is
not ingested. Otherwise a lockout procedure applies to an asset when its title, source or
equipment line names the asset. Either way the draft's safety says which document it used
and how it was chosen; its isolation points (valves, breakers, MCC cubicles) are copied from
the document's isolation sections. A step of a copied procedure that isolates or locks out is
recognised, so a draft never states the isolation twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath

from assistant.domain import Chunk
from assistant.errors import WorkOrderError
from assistant.knowledge.retrieval import Retriever
from assistant.plant import AssetSpec
from assistant.workorders.evidence import DocumentReader, clip
from assistant.workorders.model import MAX_DOCUMENT, MAX_STEP, LockoutFoundBy, Safety

LOCKOUT_WORDS = re.compile(r"lockout|tagout|\bloto\b|energy control", re.IGNORECASE)
ISOLATION_SECTION = re.compile(r"energy source|isolation|lock application", re.IGNORECASE)
ISOLATION_POINT = re.compile(
    r"\bMCC-\d+\s+cubicle\s+\d+[A-Z]?\b"
    r"|\bheater MCB\b"
    r"|\b(?:V|XV|HV|CB|MCB|QF|DS)-\d{2,5}[A-Z]?\b"
)
NOT_ISOLATION = re.compile(r"\b([A-Z]{1,3}-\d{2,5}[A-Z]?)\s+is not an isolation point")
PROCEDURE_NUMBER = re.compile(r"Procedure number\s*\|\s*([A-Z0-9][A-Z0-9-]{2,40})")
ISOLATING = re.compile(
    r"\b(?:isolat(?:e|ed|ing)|lock(?:ed|ing)?[\s-]?out|lockout|tag[\s-]?out|loto)\b",
    re.IGNORECASE,
)
NOT_ISOLATING = re.compile(
    r"\b(?:releas(?:e|ing)|remov(?:e|ing)|clear(?:ing)?)\s+(?:the\s+|all\s+)?"
    r"(?:lockout|locks?|loto|isolation)"
    r"|\bno\s+(?:lockout|locks?|loto)\b"
    r"|\b(?:after|without)\s+(?:the\s+)?(?:lockout|isolation)\b"
    r"|\b(?:with|while|when)\b[^.;:]{0,40}\b(?:locked[\s-]?out|isolated)\b",
    re.IGNORECASE,
)


def is_lockout(chunk: Chunk) -> bool:
    """Return whether a passage belongs to a lockout/tagout (energy control) procedure."""
    return bool(LOCKOUT_WORDS.search(f"{chunk.title} {chunk.source}"))


def lockout_applies(chunk: Chunk, asset: AssetSpec) -> bool:
    """Return whether a lockout passage belongs to a procedure written for this asset."""
    tags = [t.upper() for t in asset.document_tags]
    head = f"{chunk.title} {chunk.source}".upper()
    if any(re.search(rf"\b{re.escape(t)}\b", head) for t in tags):
        return True
    equipment = re.search(r"Equipment\s*\|([^\n]*)", chunk.text)
    return equipment is not None and any(
        re.search(rf"\b{re.escape(t)}\b", equipment.group(1).upper()) for t in tags
    )


def isolation_points(texts: Sequence[str]) -> list[str]:
    """Extract isolation points (valves, breakers, MCC cubicles) from lockout passage text."""
    excluded = {m.group(1) for text in texts for m in NOT_ISOLATION.finditer(text)}
    points: list[str] = []
    for text in texts:
        for match in ISOLATION_POINT.finditer(text):
            point = re.sub(r"\s+", " ", match.group(0))
            if point in excluded or point in points:
                continue
            points.append(point)
    return points[:20]


def procedure_number(chunks: Sequence[Chunk]) -> str | None:
    """Return the procedure number a lockout document states ("Procedure number | X")."""
    return next(
        (m.group(1) for c in chunks if (m := PROCEDURE_NUMBER.search(c.text)) is not None), None
    )


def is_isolation_step(step: str) -> bool:
    """Return whether a step isolates or locks out equipment (not one that releases a lock)."""
    return bool(ISOLATING.search(step)) and not NOT_ISOLATING.search(step)


def isolation_step(asset: AssetSpec, procedure: str | None, points: Sequence[str]) -> str:
    """Return the step code puts first when a procedure has none of its own to isolate."""
    where = f" ({', '.join(points[:6])})" if points else ""
    return (
        f"Isolate and lock out {asset.id} per {procedure or 'its LOTO procedure'}{where}"
        " and verify zero energy."
    )


def isolation_lead(asset: AssetSpec, safety: Safety) -> str:
    """Return the isolation step of a draft's safety, clipped to the length of a step."""
    return clip(isolation_step(asset, safety.procedure, safety.isolation_points), MAX_STEP)


def named_document(asset: AssetSpec, sources: Sequence[str]) -> str:
    """Return the ingested document the plant file names as the asset's lockout procedure.

    ``lockout_doc`` matches an ingested path exactly, or its last path parts (a file name, or
    ``folder/file.md``); no match, or more than one, is an error naming the asset.
    """
    wanted = asset.lockout_doc or ""
    name = PurePath(wanted)
    exact = [s for s in sources if s == wanted]
    matches = exact or [
        s
        for s in sources
        if not name.is_absolute() and PurePath(s).parts[-len(name.parts) :] == name.parts
    ]
    where = f"assets[{asset.id}].lockout_doc"
    if not matches:
        raise WorkOrderError(
            f"{where} names '{wanted}', which is not an ingested document; ingest it "
            "('shiftmate ingest PATH') or correct the plant file"
        )
    if len(matches) > 1:
        raise WorkOrderError(
            f"{where} '{wanted}' matches {len(matches)} ingested documents "
            f"({', '.join(sorted(matches))}); give more of its path"
        )
    return matches[0]


def _searched_documents(retriever: Retriever, asset: AssetSpec, read: DocumentReader) -> list[str]:
    """Return the lockout procedures a search finds whose title or equipment names the asset."""
    tags = " ".join(asset.document_tags)
    hits = retriever.search(f"lockout procedure isolation points {tags}", 12)
    lockout = [h.chunk for h in hits if is_lockout(h.chunk)]
    return sorted(
        source
        for source in {c.source for c in lockout}
        if any(lockout_applies(c, asset) for c in read(source))
    )


def find_safety(retriever: Retriever, asset: AssetSpec, read: DocumentReader) -> Safety:
    """Return the energy isolation the asset's lockout procedures state (none: no isolation).

    The procedure is the one the plant file names for the asset (``lockout_doc``), else those
    a search for lockout passages finds that apply to the asset, read whole; the isolation
    points come from their isolation sections (else all their text).
    """
    found_by: LockoutFoundBy
    if asset.lockout_doc is not None:
        sources = [named_document(asset, [e.path for e in read.manifest.entries()])]
        found_by = "plant file"
    else:
        sources = _searched_documents(retriever, asset, read)
        found_by = "search"
    mine = [c for source in sources for c in read(source)]
    if not mine and found_by == "plant file":
        raise WorkOrderError(
            f"assets[{asset.id}].lockout_doc '{asset.lockout_doc}' has no text in the "
            "knowledge base; re-ingest it"
        )
    if not mine:
        return Safety()
    isolation = [c.text for c in mine if ISOLATION_SECTION.search(c.section)]
    points = isolation_points(isolation or [c.text for c in mine])
    procedure = procedure_number(mine) or PurePath(sources[0]).name
    return Safety(
        energy_isolation_required=True,
        isolation_points=tuple(points),
        permits=(clip(f"Lockout/tagout per {procedure}", 120),),
        procedure=clip(procedure, 120),
        document=clip("; ".join(sources), MAX_DOCUMENT),
        found_by=found_by,
    )
