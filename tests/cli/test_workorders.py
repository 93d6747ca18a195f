"""The work-order commands end to end: draft, list, show, edit, approve, export, reject, and
one-line errors for bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

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
