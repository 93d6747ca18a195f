"""Historian exports (CSV-like files) read into readings of one asset, for replay.

Loading (:func:`load_historian_csv`):

* the bytes are decoded and the separator is detected by the rules of
  :mod:`connectors.textfiles` (UTF-8, UTF-16 or Windows-1252; ``;``, tab, ``|`` or ``,``, the
  first three winning over ``,`` because European exports write decimal commas, which are then
  accepted: ``"1,5"``);
* the timestamp column is the one the map names, else the first column named like a timestamp
  (``datetime``, ``timestamp``, ``time``, ``ts``, ...), else the first column whose first values
  parse as times. Times may be ISO 8601 (``2020-03-09T10:34:33Z``), ``YYYY-MM-DD HH:MM:SS``,
  ``DD.MM.YYYY HH:MM:SS``, ``YYYY/MM/DD HH:MM:SS`` or Unix epoch seconds, milliseconds or
  microseconds; times without a zone are read in the map's ``timezone`` (default UTC);
* value columns become tags through a column map (a TOML or JSON file, see
  :func:`load_column_map`), or without one, where the column's normalised name
  (``"Motor Current"`` -> ``motor_current``) equals a tag id of the asset. Columns that map to
  nothing are reported in :attr:`HistorianData.unmapped`, never dropped silently; columns the
  map lists under ``ignore`` (labels such as SKAB's ``anomaly``) are reported as ignored;
* a row with a value that is not a finite number, a bad timestamp or a wrong field count is
  skipped and counted, with its line number; an empty cell is a missing value, not an error.

Column maps and a plant for the SKAB data set ship in ``connectors/replay_maps``
(:func:`bundled_map`, :func:`bundled_plant`); :mod:`connectors.replay` publishes the readings.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.domain import Reading
from assistant.errors import ConfigError, ConnectorError
from assistant.plant import AssetSpec, PlantSpec, parse_plant
from connectors.textfiles import UndecodableText, decode_text, sniff_separator

TIMESTAMP_NAMES = frozenset(
    {
        "datetime",
        "date_time",
        "timestamp",
        "time_stamp",
        "timestamp_utc",
        "datetime_utc",
        "time",
        "time_utc",
        "ts",
        "t_stamp",
        "date",
        "_time",
        "utc",
    }
)
_TIME_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")
_EPOCH_RANGE_S = (946_684_800.0, 4_102_444_800.0)  # 2000-01-01 .. 2100-01-01
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_DETECT_VALUES = 5
_MAX_LISTED_SKIPS = 100
_MAP_KEYS = frozenset({"asset", "timestamp_column", "timezone", "time_format", "ignore", "columns"})


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """How a historian export's columns become tags: column name to tag id, and what to ignore."""

    columns: Mapping[str, str]
    ignore: tuple[str, ...] = ()
    asset: str | None = None
    timestamp_column: str | None = None
    timezone: str | None = None
    time_format: str | None = None


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """A data row that could not be used, by its line number in the file (header = line 1)."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class HistorianData:
    """A loaded historian export: its readings (sorted by time) and what was made of each column."""

    source: str
    asset: str
    separator: str
    timestamp_column: str
    mapped: tuple[tuple[str, str], ...]
    unmapped: tuple[str, ...]
    ignored: tuple[str, ...]
    missing: tuple[str, ...]
    rows: int
    skipped_count: int
    skipped: tuple[SkippedRow, ...]
    missing_values: int
    out_of_order: int
    readings: tuple[Reading, ...] = field(repr=False)

    @property
    def used_rows(self) -> int:
        """Return how many data rows produced readings or were kept."""
        return self.rows - self.skipped_count


# ---------------------------------------------------------------------------------------------
# Column maps


def load_column_map(path: Path) -> ColumnMap:
    """Read a column map from a TOML or JSON file; raise ConfigError naming the problem.

    Either a flat table of ``"column" = "tag"`` pairs, or a table with ``columns`` (that
    mapping) and optional ``asset``, ``timestamp_column``, ``timezone`` (IANA name),
    ``time_format`` (strptime) and ``ignore`` (a list of columns that are not telemetry).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"column map not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read column map {path}: {exc}") from exc
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"column map {path} is not valid {kind}: {exc}") from exc
    return parse_column_map(data, str(path))


def parse_column_map(data: Any, source: str = "column map") -> ColumnMap:
    """Validate column-map data (as read from TOML or JSON); raise ConfigError if it is wrong."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table of column = tag pairs")
    if "columns" not in data:
        data = {"columns": data}
    unknown = sorted(set(data) - _MAP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; expected {sorted(_MAP_KEYS)}")
    columns = data["columns"]
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in columns.items()
    ):
        raise ConfigError(f"{source}: 'columns' must map column names to tag ids (strings)")
    ignore = data.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(i, str) for i in ignore):
        raise ConfigError(f"{source}: 'ignore' must be a list of column names")
    optional: dict[str, str | None] = {}
    for key in ("asset", "timestamp_column", "timezone", "time_format"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string")
        optional[key] = value
    if optional["timezone"] is not None:
        _zone(optional["timezone"], source)
    return ColumnMap(
        columns=dict(columns),
        ignore=tuple(ignore),
        asset=optional["asset"],
        timestamp_column=optional["timestamp_column"],
        timezone=optional["timezone"],
        time_format=optional["time_format"],
    )


def bundled_map(name: str) -> ColumnMap:
    """Return a column map shipped in ``connectors/replay_maps`` (for example ``"skab"``)."""
    data, source = _bundled_toml(name, "map")
    return parse_column_map(data, source)


def bundled_plant(name: str) -> PlantSpec:
    """Return a plant shipped in ``connectors/replay_maps`` (``"skab_plant"``: asset SKAB-PUMP)."""
    data, source = _bundled_toml(name, "plant")
    return parse_plant(data, source)


def _bundled_toml(name: str, what: str) -> tuple[dict[str, Any], str]:
    resource = resources.files("connectors").joinpath("replay_maps", f"{name}.toml")
    if not resource.is_file():
        raise ConfigError(f"no bundled replay {what} named '{name}'")
    data = tomllib.loads(resource.read_text(encoding="utf-8"))
    return data, f"connectors/replay_maps/{name}.toml"


# ---------------------------------------------------------------------------------------------
# Loading


def normalise_column(name: str) -> str:
    """Return a column name as a tag id would spell it: ``"Motor Current"`` -> ``motor_current``."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def detect_separator(lines: Sequence[str]) -> str:
    """Return the field separator of CSV-like lines; raise ConnectorError if none fits."""
    if not any(line.strip() for line in lines):
        raise ConnectorError("the file has no header line")
    separator = sniff_separator(lines)
    if separator is None:
        raise ConnectorError("cannot detect the separator: no line splits on ';', tab, '|' or ','")
    return separator


def load_historian_csv(
    path: Path,
    asset: str | None,
    column_map: ColumnMap | Mapping[str, str] | None,
    plant: PlantSpec,
    *,
    tz: tzinfo | None = None,
) -> HistorianData:
    """Read a historian export into readings of one asset; see the module docstring for rules.

    ``asset`` may be None when the column map names it. ``tz`` overrides the map's time zone
    for times written without one. Raise ConnectorError when the file cannot be used at all and
    ConfigError when the asset or map does not fit the plant.
    """
    cmap = _as_column_map(column_map)
    spec = _asset(plant, asset or cmap.asset)
    source = str(path)
    zone = tz or (_zone(cmap.timezone, "column map") if cmap.timezone else UTC)
    text = _read_text(path)
    lines = text.splitlines()
    try:
        separator = detect_separator(lines)
    except ConnectorError as exc:
        raise ConnectorError(f"{source}: {exc}") from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    header: list[str] | None = None
    for row in reader:
        if any(cell.strip() for cell in row):
            header = [cell.strip() for cell in row]
            break
    if header is None:
        raise ConnectorError(f"{source}: the file has no header line")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ConnectorError(f"{source}: duplicate column name(s) {duplicates}")
    decimal_comma = separator != ","
    first_rows = _first_rows(text, separator, reader.line_num)
    ts_index = _timestamp_column(header, first_rows, cmap, source)
    mapped, unmapped, ignored, missing = _map_columns(header, ts_index, cmap, spec, source)
    readings: list[Reading] = []
    skipped: list[SkippedRow] = []
    skipped_count = rows = missing_values = out_of_order = 0
    last_ts = -math.inf
    units = {tag.id: tag.unit for tag in spec.tags}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        parsed = _parse_row(row, header, ts_index, mapped, zone, cmap.time_format, decimal_comma)
        if isinstance(parsed, str):
            skipped_count += 1
            if len(skipped) < _MAX_LISTED_SKIPS:
                skipped.append(SkippedRow(reader.line_num, parsed))
            continue
        ts, values = parsed
        if ts < last_ts:
            out_of_order += 1
        last_ts = max(last_ts, ts)
        for tag, value in values:
            if value is None:
                missing_values += 1
            else:
                readings.append(Reading(spec.id, tag, value, ts, units[tag]))
    if out_of_order:
        readings.sort(key=lambda r: r.ts)
    return HistorianData(
        source=source,
        asset=spec.id,
        separator=separator,
        timestamp_column=header[ts_index],
        mapped=tuple((header[i], tag) for i, tag in mapped),
        unmapped=unmapped,
        ignored=ignored,
        missing=missing,
        rows=rows,
        skipped_count=skipped_count,
        skipped=tuple(skipped),
        missing_values=missing_values,
        out_of_order=out_of_order,
        readings=tuple(readings),
    )


def _as_column_map(column_map: ColumnMap | Mapping[str, str] | None) -> ColumnMap:
    if column_map is None:
        return ColumnMap(columns={})
    if isinstance(column_map, ColumnMap):
        return column_map
    return parse_column_map(dict(column_map))


def _asset(plant: PlantSpec, asset_id: str | None) -> AssetSpec:
    if not asset_id:
        raise ConfigError("replay: no asset given (pass one, or name it in the column map)")
    spec = plant.asset(asset_id)
    if spec is None:
        known = ", ".join(a.id for a in plant.assets)
        raise ConfigError(f"replay: asset '{asset_id}' is not in the plant (assets: {known})")
    return spec


def _zone(name: str, source: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{source}: unknown time zone '{name}'") from exc


def _read_text(path: Path) -> str:
    try:
        return decode_text(path.read_bytes())
    except FileNotFoundError as exc:
        raise ConnectorError(f"historian file not found: {path}") from exc
    except UndecodableText as exc:
        raise ConnectorError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ConnectorError(f"cannot read historian file {path}: {exc}") from exc


def _first_rows(text: str, separator: str, header_line: int) -> list[list[str]]:
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    for row in reader:
        if reader.line_num <= header_line or not any(cell.strip() for cell in row):
            continue
        rows.append(row)
        if len(rows) >= _DETECT_VALUES:
            break
    return rows


def _timestamp_column(
    header: list[str], rows: list[list[str]], cmap: ColumnMap, source: str
) -> int:
    if cmap.timestamp_column is not None:
        wanted = normalise_column(cmap.timestamp_column)
        for index, name in enumerate(header):
            if name == cmap.timestamp_column or normalise_column(name) == wanted:
                return index
        raise ConnectorError(
            f"{source}: the timestamp column '{cmap.timestamp_column}' named by the map is "
            f"not in the header {header}"
        )
    for index, name in enumerate(header):
        if normalise_column(name) in TIMESTAMP_NAMES:
            return index
    for index in range(len(header)):
        values = [row[index] for row in rows if index < len(row) and row[index].strip()]
        if values and all(_looks_like_time(v, cmap.time_format) for v in values):
            return index
    raise ConnectorError(
        f"{source}: no timestamp column: none is named like datetime/timestamp/time/ts and "
        f"none holds dates in its first rows (header: {header})"
    )


def _looks_like_time(text: str, time_format: str | None) -> bool:
    try:
        float(text)
    except ValueError:
        try:
            _parse_time(text, UTC, time_format)
        except ValueError:
            return False
        return True
    # a bare number is a time only when it is a plausible epoch (s, ms or µs)
    try:
        ts = _parse_time(text, UTC, time_format)
    except ValueError:
        return False
    return _EPOCH_RANGE_S[0] <= ts <= _EPOCH_RANGE_S[1]


def _map_columns(
    header: list[str], ts_index: int, cmap: ColumnMap, spec: AssetSpec, source: str
) -> tuple[list[tuple[int, str]], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    tag_ids = {tag.id for tag in spec.tags}
    explicit = bool(cmap.columns)
    by_name = {name: tag for name, tag in cmap.columns.items()}
    by_normal = {normalise_column(name): tag for name, tag in cmap.columns.items()}
    ignore = {normalise_column(name) for name in cmap.ignore}
    wrong = sorted({tag for tag in cmap.columns.values() if tag not in tag_ids})
    if wrong:
        raise ConfigError(
            f"column map: tag(s) {wrong} are not tags of {spec.id} "
            f"(its tags: {', '.join(sorted(tag_ids))})"
        )
    mapped: list[tuple[int, str]] = []
    unmapped: list[str] = []
    ignored: list[str] = []
    seen_normals: set[str] = set()
    for index, name in enumerate(header):
        if index == ts_index:
            continue
        normal = normalise_column(name)
        seen_normals.add(normal)
        if explicit:
            tag = by_name.get(name) or by_normal.get(normal)
        else:
            tag = normal if normal in tag_ids else None
        if tag is not None:
            mapped.append((index, tag))
        elif normal in ignore:
            ignored.append(name)
        else:
            unmapped.append(name)
    tags = [tag for _, tag in mapped]
    doubled = sorted({tag for tag in tags if tags.count(tag) > 1})
    if doubled:
        raise ConfigError(f"{source}: several columns map to the same tag(s) {doubled}")
    if not mapped:
        raise ConnectorError(
            f"{source}: no column maps to a tag of {spec.id} (columns: {header}; tags: "
            f"{', '.join(sorted(tag_ids))}); give a column map"
        )
    missing = tuple(
        name
        for name in cmap.columns
        if name not in header and normalise_column(name) not in seen_normals
    )
    return mapped, tuple(unmapped), tuple(ignored), missing


def _parse_row(
    row: list[str],
    header: list[str],
    ts_index: int,
    mapped: list[tuple[int, str]],
    zone: tzinfo,
    time_format: str | None,
    decimal_comma: bool,
) -> tuple[float, list[tuple[str, float | None]]] | str:
    if len(row) < len(header) or any(cell.strip() for cell in row[len(header) :]):
        return f"has {len(row)} fields, the header has {len(header)}"
    raw_ts = row[ts_index].strip()
    try:
        ts = _parse_time(raw_ts, zone, time_format)
    except ValueError:
        return f"bad timestamp {raw_ts[:40]!r} in column '{header[ts_index]}'"
    values: list[tuple[str, float | None]] = []
    for index, tag in mapped:
        raw = row[index].strip()
        if not raw:
            values.append((tag, None))
            continue
        value = _parse_value(raw, decimal_comma)
        if value is None:
            return f"bad value {raw[:40]!r} in column '{header[index]}'"
        values.append((tag, value))
    return ts, values


def _parse_value(raw: str, decimal_comma: bool) -> float | None:
    text = raw.replace(",", ".") if decimal_comma and _DECIMAL_COMMA.match(raw) else raw
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parse_time(text: str, zone: tzinfo, time_format: str | None) -> float:
    """Return Unix seconds for a time cell; raise ValueError if it is not a time."""
    if not text:
        raise ValueError("empty timestamp")
    if time_format is not None:
        parsed = datetime.strptime(text, time_format)
    else:
        try:
            number = float(text)
        except ValueError:
            parsed = _parse_datetime(text)
        else:
            if not math.isfinite(number):
                raise ValueError(f"not a time: {text!r}")
            magnitude = abs(number)
            if magnitude > 1e14:
                return number / 1e6
            if magnitude > 1e11:
                return number / 1e3
            return number
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.timestamp()


def _parse_datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r}")
