"""What the connector tests share: the SKAB files, the plants they load into, writing exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.plant import PlantSpec, parse_plant
from connectors.historian import bundled_plant

SKAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "telemetry" / "skab"
VALVE1_1 = SKAB / "data" / "valve1" / "1.csv"
ANOMALY_FREE = SKAB / "data" / "anomaly-free" / "anomaly-free.csv"
SKAB_TAGS = {
    "vibration_1",
    "vibration_2",
    "motor_current",
    "discharge_pressure",
    "motor_temp",
    "fluid_temp",
    "motor_voltage",
    "flow",
}


@pytest.fixture(scope="module")
def skab_plant() -> PlantSpec:
    """Return the bundled plant with the SKAB-PUMP asset."""
    return bundled_plant("skab_plant")


@pytest.fixture(scope="module")
def small_plant() -> PlantSpec:
    """Return a plant with one asset whose tag ids match plain column names."""
    return parse_plant(
        {
            "site": "test",
            "assets": [
                {
                    "id": "PU-1",
                    "name": "Test pump",
                    "type": "pump",
                    "tags": [
                        {"id": "flow", "unit": "m3/h"},
                        {"id": "motor_current", "unit": "A", "format": "number"},
                        {"id": "pressure", "unit": "bar"},
                    ],
                }
            ],
        }
    )


def write_export(path: Path, text: str) -> Path:
    """Write a hand-made export as UTF-8 and return its path."""
    path.write_text(text, encoding="utf-8")
    return path
