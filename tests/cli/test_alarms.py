"""``shiftmate alarms`` as a real subprocess over a real journal: list (also the plain
``alarms`` of before), ``ack ID --by NAME`` recorded once, and clear errors with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.domain import TelemetryEvent
from assistant.services import build_services
from assistant.settings import load_settings
from tests.cli.test_cli import run

RAISED = TelemetryEvent(
    id="a1b2c3d4e5f6",
    asset="ST-101",
    tag="differential_pressure",
    kind="limit",
    level="hi",
    state="raised",
    ts=1_795_000_000.0,
    value=0.38,
    message="ST-101 differential_pressure 0.38 bar above hi limit 0.35 bar",
    values=(("differential_pressure", 0.38),),
)
CLEARED = TelemetryEvent(
    id="0f0e0d0c0b0a",
    asset="ST-101",
    tag="differential_pressure",
    kind="limit",
    level="hi",
    state="cleared",
    ts=1_795_000_060.0,
    value=0.2,
    message="ST-101 differential_pressure 0.2 bar back below hi limit 0.35 bar",
    values=(("differential_pressure", 0.2),),
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Return a data dir whose journal holds a raised and a cleared ST-101 alarm event."""
    path = tmp_path / "data"
    with build_services(load_settings(None, {"data_dir": path})) as services:
        services.alarm_history.record(RAISED)
        services.alarm_history.record(CLEARED)
    return path


def test_ack_is_recorded_once_and_every_listing_shows_it(data_dir: Path) -> None:
    before = run("alarms", "list", data_dir=data_dir)
    assert before.returncode == 0, before.stderr
    assert f"{RAISED.id}  " in before.stdout and "[NEW]" in before.stdout

    acked = run("alarms", "ack", RAISED.id, "--by", "Ann Operator", data_dir=data_dir)
    assert acked.returncode == 0, acked.stderr
    assert acked.stdout.startswith(f"{RAISED.id}: acknowledged by Ann Operator at ")
    assert "(via cli)" in acked.stdout

    again = run("alarms", "ack", RAISED.id, "--by", "Bob", "--json", data_dir=data_dir)
    assert again.returncode == 0, again.stderr
    record = json.loads(again.stdout)
    assert (record["event_id"], record["by"], record["via"], record["key_id"]) == (
        RAISED.id,
        "Ann Operator",
        "cli",
        None,
    )
    assert "already acknowledged; the first acknowledgement stands" in again.stderr

    # plain 'alarms' with its options keeps working, before or after 'list'
    for args in (
        ("alarms", "--raised", "--json"),
        ("alarms", "list", "--raised", "--json"),
        ("alarms", "--asset", "st-101", "list", "--json", "--raised"),
    ):
        listed = run(*args, data_dir=data_dir)
        assert listed.returncode == 0, (args, listed.stderr)
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [r["id"] for r in rows] == [RAISED.id], args
        assert rows[0]["ack"]["by"] == "Ann Operator" and rows[0]["ack"]["at"] == record["at"]
        assert rows[0]["level"] == "hi" and rows[0]["tags"] == ["differential_pressure"]

    everything = run("alarms", "--json", data_dir=data_dir)
    rows = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [(r["id"], r["ack"] is None) for r in rows] == [(CLEARED.id, True), (RAISED.id, False)]
    human = run("alarms", data_dir=data_dir).stdout
    assert f"[ack by Ann Operator at {record['at']}]" in human and "[NEW]" not in human


def test_unknown_ids_clears_and_missing_names_fail_with_one_line(data_dir: Path) -> None:
    unknown = run("alarms", "ack", "nope", "--by", "Ann", data_dir=data_dir)
    assert unknown.returncode == 8
    assert unknown.stderr.strip() == (
        "shiftmate: error: no alarm event 'nope' is recorded; 'shiftmate alarms list' shows the ids"
    )
    clear = run("alarms", "ack", CLEARED.id, "--by", "Ann", data_dir=data_dir)
    assert clear.returncode == 8 and "is the clear of ST-101" in clear.stderr
    blank = run("alarms", "ack", RAISED.id, "--by", "  ", data_dir=data_dir)
    assert blank.returncode == 8 and "needs the operator's name (--by NAME)" in blank.stderr
    missing = run("alarms", "ack", RAISED.id, data_dir=data_dir)
    assert missing.returncode == 2 and "--by" in missing.stderr
    assert "Traceback" not in unknown.stderr + clear.stderr + blank.stderr + missing.stderr
    listed = run("alarms", "list", "--json", data_dir=data_dir)
    assert all(json.loads(line)["ack"] is None for line in listed.stdout.splitlines())
    bad_limit = run("alarms", "list", "--limit", "0", data_dir=data_dir)
    assert bad_limit.returncode == 2 and "--limit must be at least 1" in bad_limit.stderr
