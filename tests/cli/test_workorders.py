"""The work-order commands end to end: draft, list, show, edit, approve, export, reject, and
one-line errors for bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from assistant.services import build_services
from assistant.settings import default_operator, load_settings
from assistant.workorders.model import validate
from tests.cli.test_cli import run
from tests.conftest import SAMPLE_PLANT

ENV = {"SHIFTMATE_PLANT__FILE": str(SAMPLE_PLANT / "plant.toml")}


def test_draft_review_and_export_from_the_command_line(
    plant_template: Path, tmp_path: Path
) -> None:
    data = tmp_path / "cli"
    shutil.copytree(plant_template, data)
    drafted = run(
        "draft",
        "--asset",
        "ST-101",
        "--question",
        "How do I clean strainer ST-101?",
        "--by",
        "ann",
        "--json",
        data_dir=data,
        env=ENV,
    )
    assert drafted.returncode == 0, drafted.stderr
    order = json.loads(drafted.stdout)
    assert order["status"] == "draft" and order["asset"] == "ST-101"
    wid = order["id"]

    listed = run("workorders", "list", "--status", "draft", "--json", data_dir=data, env=ENV)
    assert [o["id"] for o in json.loads(listed.stdout)] == [wid]
    shown = run("workorders", "show", wid, data_dir=data, env=ENV)
    assert wid in shown.stdout and "Energy isolation REQUIRED" in shown.stdout
    # the cleaning steps state no time, so the draft states none
    assert order["estimated_duration_h"] is None
    assert "Estimated duration: not stated" in shown.stdout

    edit = ("workorders", "edit", wid, "--field", "estimated_duration_h", "--value", "3")
    assert run(*edit, "--by", "bob", data_dir=data, env=ENV).returncode == 0
    assert run("workorders", "approve", wid, "--by", "carol", data_dir=data).returncode == 0
    again = run("workorders", "approve", wid, "--by", "carol", data_dir=data)
    assert again.returncode == 9
    assert again.stderr.startswith("shiftmate: error: cannot approve work order")
    assert len(again.stderr.strip().splitlines()) == 1

    exported = run("workorders", "export", wid, "--by", "bob", data_dir=data)
    assert exported.returncode == 0, exported.stderr
    assert (data / "exports" / f"{wid}.json").is_file()
    assert (data / "exports" / "workorders.csv").is_file()
    with (data / "exports" / "workorders.csv").open(encoding="utf-8", newline="") as handle:
        assert [r["estimated_duration_h"] for r in csv.DictReader(handle)] == ["3"]
    twice = run("workorders", "export", wid, "--by", "bob", data_dir=data)
    assert twice.returncode == 9 and "already exported" in twice.stderr
    final = json.loads(run("workorders", "show", wid, "--json", data_dir=data).stdout)
    assert final["status"] == "exported" and final["estimated_duration_h"] == 3
    assert [h["field"] for h in final["history"]] == ["estimated_duration_h", "status", "status"]


def test_bad_input_is_one_line(plant_template: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad"
    shutil.copytree(plant_template, data)
    unknown = run("draft", "--asset", "P-999", "--by", "ann", data_dir=data, env=ENV)
    assert unknown.returncode == 9
    assert unknown.stderr.startswith("shiftmate: error: unknown asset 'P-999'")
    alarm = run(
        "draft", "--asset", "P-101", "--alarm", "nope", "--by", "ann", data_dir=data, env=ENV
    )
    assert "no alarm event 'nope'" in alarm.stderr
    missing = run("workorders", "reject", "WO-none", "--by", "x", "--reason", "y", data_dir=data)
    assert missing.returncode == 9 and "no work order 'WO-none'" in missing.stderr


def _stored_draft(data: Path, created_by: str) -> str:
    """Store a draft in a data dir's journal as the CLI's draft would record it."""
    services = build_services(load_settings(None, {"data_dir": data}))
    try:
        order = validate(
            {
                "id": "WO-20261202-cli1",
                "asset": "C-3",
                "title": "Change the C-3 oil",
                "problem": "The C-3 oil is due for a change.",
                "suspected_cause": "Service interval.",
                "priority": "low",
                "priority_reason": "Routine.",
                "steps": ["Drain the oil", "Refill with fresh oil"],
                "created_by": created_by,
                "created_key_id": f"cli:{default_operator()}",
                "created_at": "2026-12-02T05:00:00+00:00",
            }
        )
        return services.workorders.create(order).id
    finally:
        services.close()


def test_the_command_line_records_itself_and_refuses_self_approval(tmp_path: Path) -> None:
    data = tmp_path / "self"
    wid = _stored_draft(data, "Ann")
    edit = ("workorders", "edit", wid, "--field", "safety.permits", "--value", "Hot work")
    assert run(*edit, "--by", "Bob", data_dir=data).returncode == 0
    own = run("workorders", "approve", wid, "--by", " ann ", data_dir=data)
    assert own.returncode == 9 and "drafted by Ann" in own.stderr
    assert "allow_self_approval" in own.stderr and len(own.stderr.strip().splitlines()) == 1
    allowed = {"SHIFTMATE_WORKORDERS__ALLOW_SELF_APPROVAL": "true"}
    approved = run("workorders", "approve", wid, "--by", "Ann", data_dir=data, env=allowed)
    assert approved.returncode == 0, approved.stderr
    final = json.loads(run("workorders", "show", wid, "--json", data_dir=data).stdout)
    vouched = f"cli:{default_operator()}"
    assert [(h["field"], h["by"], h["key_id"], h["key_name"]) for h in final["history"]] == [
        ("safety.permits", "Bob", vouched, None),
        ("status", "Ann", vouched, None),
    ]
    shown = run("workorders", "show", wid, data_dir=data).stdout
    assert f"Bob [{vouched}]: safety.permits" in shown
