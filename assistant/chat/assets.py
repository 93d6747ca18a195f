"""Which assets a question is about: ids, the tags documents use for them, names and types."""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.plant import PlantSpec


def _tag_pattern(tag: str) -> str:
    """Match P-101 also written P101, p 101 or P_101."""
    letters, _, digits = tag.partition("-")
    if not digits:
        return re.escape(tag)
    return rf"{re.escape(letters)}[\s_-]?{re.escape(digits)}"


class AssetResolver:
    """Finds the plant's assets mentioned in free text, in order of appearance."""

    def __init__(self, plant: PlantSpec) -> None:
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        types: dict[str, list[str]] = {}
        for asset in plant.assets:
            for tag in dict.fromkeys((asset.id, *asset.document_tags)):
                self._patterns.append(
                    (re.compile(rf"(?<![\w-]){_tag_pattern(tag)}(?![\w-])", re.I), asset.id)
                )
            if asset.name:
                self._patterns.append((re.compile(rf"\b{re.escape(asset.name)}\b", re.I), asset.id))
            types.setdefault(asset.type.replace("_", " "), []).append(asset.id)
        for type_name, ids in types.items():
            if len(ids) == 1:  # "the compressor" is only unambiguous when there is one
                self._patterns.append((re.compile(rf"\b{re.escape(type_name)}s?\b", re.I), ids[0]))

    def resolve(self, text: str) -> list[str]:
        """Return the asset ids mentioned in a text, first mention first."""
        found: list[tuple[int, str]] = []
        for pattern, asset_id in self._patterns:
            match = pattern.search(text)
            if match:
                found.append((match.start(), asset_id))
        return list(dict.fromkeys(asset_id for _, asset_id in sorted(found)))

    def resolve_conversation(self, question: str, earlier: Iterable[str]) -> list[str]:
        """Return the assets of the question, or else of the latest earlier question naming some."""
        assets = self.resolve(question)
        if assets:
            return assets
        for text in reversed(list(earlier)):
            assets = self.resolve(text)
            if assets:
                return assets
        return []
