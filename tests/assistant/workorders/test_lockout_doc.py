"""The lockout procedure the plant file names for an asset (``assets[].lockout_doc``) is the one
a draft uses, even when nothing in its name or equipment line names the asset; the draft says
which document it used and how it was chosen."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.errors import ConfigError, WorkOrderError
from assistant.plant import load_plant
from assistant.services import Services
from assistant.workorders.render import render
from tests.assistant.workorders.helpers import PLANT_FILE
from tests.conftest import ServicesFactory

ENERGY_CONTROL = """# Energy Control Procedure EC-7 — Compressor Room Cooling Exchanger

| Field | Value |
|---|---|
| Procedure number | RWW-EC-7 |
| Equipment | Plate exchanger of the compressor cooling loop, compressor room west wall |

## 1. Purpose

How to isolate the plate exchanger of the compressor cooling loop before it is opened.

## 2. Energy sources and isolation points

1. Close and lock the raw-water inlet valve V-1201.
2. Close and lock the raw-water outlet valve V-1202.
3. Switch off and lock the loop circulation pump breaker CB-1205.
4. Open the drain valve and verify zero pressure on the exchanger gauge.
"""


def _plant_naming(tmp_path: Path, document: str) -> Path:
    text = PLANT_FILE.read_text(encoding="utf-8")
    marker = 'doc_tags = ["HX-12"]\n'
    assert text.count(marker) == 1
    path = tmp_path / "plant.toml"
    path.write_text(text.replace(marker, f"{marker}lockout_doc = {document!r}\n"), "utf-8")
    return path


def _services(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path, plant: Path, name: str
) -> Services:
    shutil.copytree(plant_template, tmp_path / name)
    services = make_services(name, plant={"file": plant})
    procedure = tmp_path / "docs" / "energy-control-ec7.md"
    procedure.parent.mkdir(exist_ok=True)
    procedure.write_text(ENERGY_CONTROL, encoding="utf-8")
    report = services.ingestor.ingest([procedure])
    assert not report.failed, report.failed
    return services


def test_the_plant_file_names_the_lockout_procedure(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    plain = _services(make_services, plant_template, tmp_path, PLANT_FILE, "plain")
    searched = plain.drafter.gatherer.gather("HX-12", question="Clean the HX-12 plates")
    # nothing in the procedure names HX-12, so searching by name does not find it
    assert "energy-control-ec7.md" not in (searched.safety.document or "")

    named = _services(
        make_services,
        plant_template,
        tmp_path,
        _plant_naming(tmp_path, "docs/energy-control-ec7.md"),
        "named",
    )
    order = named.drafter.draft("HX-12", question="Clean the HX-12 plates", created_by="ann")
    safety = order.safety
    assert safety.energy_isolation_required and safety.found_by == "plant file"
    assert safety.document == str((tmp_path / "docs" / "energy-control-ec7.md").resolve())
    assert safety.procedure == "RWW-EC-7"
    assert set(safety.isolation_points) == {"V-1201", "V-1202", "CB-1205"}
    assert safety.permits == ("Lockout/tagout per RWW-EC-7",)
    text = render(order)
    assert f"Lockout procedure: RWW-EC-7 ({safety.document}; named by the plant file)" in text
    stored = named.workorders.get(order.id)
    assert stored.safety == safety and stored.priority_floor == "low"


def test_a_named_procedure_that_is_not_ingested_refuses_the_draft(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    plant = _plant_naming(tmp_path, "loto-hx12.md")
    services = _services(make_services, plant_template, tmp_path, plant, "missing")
    with pytest.raises(WorkOrderError, match=r"assets\[HX-12\]\.lockout_doc names 'loto-hx12.md'"):
        services.drafter.gatherer.gather("HX-12", question="Clean the HX-12 plates")
    assert services.workorders.list() == []


def test_a_blank_lockout_doc_is_a_plant_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"assets\[HX-12\]\.lockout_doc: must name a document"):
        load_plant(_plant_naming(tmp_path, "   "))
