"""Shared pieces of the telemetry tests: the sample plant and a clock moved by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.plant import PlantSpec, load_plant

SAMPLE_PLANT = Path(__file__).resolve().parents[3] / "assistant" / "sample_plant" / "plant.toml"
T0 = 1_767_000_000.0


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def plant() -> PlantSpec:
    """Load the sample plant."""
    return load_plant(SAMPLE_PLANT)
