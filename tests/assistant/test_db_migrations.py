"""Processes that open one new journal at the same moment migrate it once (real SQLite)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from assistant.db import Database
from assistant.migrations import MIGRATIONS

OPEN_AT = """
import sys, time
from pathlib import Path
from assistant.db import Database
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
db = Database(Path(sys.argv[1]))
print(db.schema_version)
db.close()
"""


def test_journals_opened_at_once_by_several_processes_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    start = time.time() + 2.0  # past every child's import, so the opens really overlap
    children = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT, str(path), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [child.communicate(timeout=120) for child in children]
    latest = MIGRATIONS[-1][0]
    for child, (out, err) in zip(children, outcomes, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == str(latest)
    db = Database(path)
    try:
        assert db.schema_version == latest
        assert db.query_one("SELECT count(*) FROM documents") is not None
    finally:
        db.close()
