"""The plant model: assets, their tags, limits and how each tag maps to MQTT.

Loaded from a TOML file (``plant.file``). Every entry is validated at start-up; an error names
the entry by its id (``assets[P-101].tags[flow].limits: ...``), not by a list index.
"""

from __future__ import annotations

import itertools
import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assistant.errors import ConfigError

PayloadFormat = Literal["number", "json"]
SAMPLE_PLANT = Path(__file__).parent / "sample_plant"
"""The sample plant shipped with the package (Riverbend Water Works): ``shiftmate demo``'s."""
TEMPLATE_FIELDS = {"site", "asset", "tag"}
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Entry):
    """Alarm limits of a tag; any may be absent. They must be ordered lolo <= lo < hi <= hihi."""

    lolo: float | None = None
    lo: float | None = None
    hi: float | None = None
    hihi: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        present = [(n, v) for n, v in self.as_pairs() if v is not None]
        for (low_name, low), (high_name, high) in itertools.pairwise(present):
            if low > high:
                raise ValueError(f"{low_name} ({low}) must not be above {high_name} ({high})")
        return self

    def as_pairs(self) -> list[tuple[str, float | None]]:
        """Return the limits from lowest to highest as (name, value) pairs."""
        return [("lolo", self.lolo), ("lo", self.lo), ("hi", self.hi), ("hihi", self.hihi)]


class TagSpec(_Entry):
    """One measured quantity of an asset."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: str = ""
    unit: str = ""
    period_s: float = Field(1.0, gt=0, description="Expected sample period.")
    normal: tuple[float, float] | None = Field(None, description="Normal operating range.")
    limits: Limits = Limits()
    deadband: float = Field(0.0, ge=0, description="Hysteresis before an alarm clears.")
    topic: str | None = Field(None, description="Overrides the plant's topic template.")
    format: PayloadFormat = "json"

    @field_validator("normal")
    @classmethod
    def _range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"normal range low {value[0]} is above high {value[1]}")
        return value


class RunningCondition(_Entry):
    """When an asset counts as running: one of its tags above a threshold.

    While an asset is stopped (a standby pump), its limit alarms are suppressed and its
    anomaly detector pauses: a stopped pump's zero flow is not an alarm (ISA-18.2
    state-based suppression).
    """

    tag: str
    above: float


class AssetSpec(_Entry):
    """One piece of equipment and its tags."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    type: str
    location: str = ""
    doc_tags: tuple[str, ...] = Field(
        (), description="Asset tags used for it in documents (default: its id)."
    )
    multi_topic: str | None = Field(
        None, description="Topic of one JSON object carrying several of its tags at once."
    )
    running_when: RunningCondition | None = Field(
        None, description="Suppress limit alarms while this condition says it is stopped."
    )
    lockout_doc: str | None = Field(
        None,
        min_length=1,
        max_length=300,
        description=(
            "The ingested lockout/tagout procedure of this asset (its path as ingested, or its "
            "file name); default: the lockout procedures whose title or equipment names it."
        ),
    )
    tags: tuple[TagSpec, ...] = Field(min_length=1)

    @field_validator("lockout_doc")
    @classmethod
    def _document_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip() or any(ord(c) < 32 for c in value):
            raise ValueError("must name a document (a path or file name on one line)")
        return value.strip()

    @model_validator(mode="after")
    def _unique_tags(self) -> AssetSpec:
        seen: set[str] = set()
        for tag in self.tags:
            if tag.id in seen:
                raise ValueError(f"tag '{tag.id}' is declared twice")
            seen.add(tag.id)
        if self.running_when is not None and self.running_when.tag not in seen:
            raise ValueError(
                f"running_when.tag '{self.running_when.tag}' is not a tag of {self.id}"
            )
        return self

    @property
    def document_tags(self) -> tuple[str, ...]:
        """Return the tags that name this asset in documents."""
        return self.doc_tags or (self.id,)

    def tag(self, tag_id: str) -> TagSpec | None:
        """Return a tag by id, or None."""
        return next((t for t in self.tags if t.id == tag_id), None)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a topic's messages go: one tag (number or JSON) or several (multi JSON)."""

    asset: str
    tag: str | None
    format: Literal["number", "json", "multi"]


class PlantSpec(_Entry):
    """A site's assets and their MQTT mapping."""

    site: str = Field(pattern=ID_PATTERN)
    name: str = ""
    topic_template: str = "plant/{site}/{asset}/{tag}"
    assets: tuple[AssetSpec, ...] = Field(min_length=1)

    @field_validator("topic_template")
    @classmethod
    def _template(cls, value: str) -> str:
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        unknown = fields - TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {sorted(unknown)}; use {{site}}, {{asset}} and {{tag}}"
            )
        if "tag" not in fields or "asset" not in fields:
            raise ValueError("must contain {asset} and {tag}")
        if any(c in value for c in "+#"):
            raise ValueError("must not contain MQTT wildcards + or #")
        return value

    @model_validator(mode="after")
    def _unique(self) -> PlantSpec:
        seen: set[str] = set()
        for asset in self.assets:
            if asset.id in seen:
                raise ValueError(f"asset '{asset.id}' is declared twice")
            seen.add(asset.id)
        topics: dict[str, str] = {}
        for asset in self.assets:
            for tag in asset.tags:
                where = f"{asset.id}.{tag.id}"
                topic = self.topic_for(asset, tag)
                if topic in topics:
                    raise ValueError(f"topic '{topic}' of {where} is also used by {topics[topic]}")
                topics[topic] = where
            if asset.multi_topic:
                if asset.multi_topic in topics:
                    raise ValueError(
                        f"multi_topic '{asset.multi_topic}' of {asset.id} is "
                        f"also used by {topics[asset.multi_topic]}"
                    )
                topics[asset.multi_topic] = asset.id
        return self

    def topic_for(self, asset: AssetSpec, tag: TagSpec) -> str:
        """Return the MQTT topic a tag's readings arrive on."""
        return tag.topic or self.topic_template.format(site=self.site, asset=asset.id, tag=tag.id)

    def routes(self) -> dict[str, Route]:
        """Return the routing table: topic to the asset/tag it carries."""
        table: dict[str, Route] = {}
        for asset in self.assets:
            for tag in asset.tags:
                table[self.topic_for(asset, tag)] = Route(asset.id, tag.id, tag.format)
            if asset.multi_topic:
                table[asset.multi_topic] = Route(asset.id, None, "multi")
        return table

    def asset(self, asset_id: str) -> AssetSpec | None:
        """Return an asset by id (case-insensitive), or None."""
        wanted = asset_id.upper()
        return next((a for a in self.assets if a.id.upper() == wanted), None)

    def tag(self, asset_id: str, tag_id: str) -> TagSpec | None:
        """Return the spec of an asset's tag, or None."""
        asset = self.asset(asset_id)
        return asset.tag(tag_id) if asset else None


def _entry_name(data: Any, loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic location into names by id: assets[P-101].tags[flow].limits."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            ident = node.get("id") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{ident if ident is not None else item}]"
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def parse_plant(data: dict[str, Any], source: str = "plant file") -> PlantSpec:
    """Validate plant data; raise ConfigError naming the entry and the problem."""
    try:
        return PlantSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = _entry_name(data, tuple(error["loc"])) or "(top level)"
            message = re.sub(r"^Value error, ", "", error["msg"])
            problems.append(f"{name}: {message}")
        raise ConfigError(f"invalid plant in {source}: " + "; ".join(problems)) from exc


def load_plant(path: Path) -> PlantSpec:
    """Read and validate a plant file (TOML)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"plant file not found: {path} (plant.file)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read plant file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"plant file {path} is not valid TOML: {exc}") from exc
    return parse_plant(data, str(path))
