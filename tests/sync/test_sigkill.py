"""Exactly once through crashes: ``shiftmate sync now`` killed with SIGKILL mid-batch, again and
again; after the restarts the real receiver holds every record once."""

from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from pathlib import Path

from tests.cloud.receiver import clean_env, shiftmate, write_config
from tests.conftest import ServicesFactory
from tests.sync.conftest import ReceiverFactory, sync_settings
from tests.sync.seed import seed

KILLS = 12


def _start(config: Path, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        shiftmate(config, data_dir, "sync", "now"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def test_uploader_killed_mid_batch_delivers_every_record_once(
    make_services: ServicesFactory, make_receiver: ReceiverFactory, tmp_path: Path
) -> None:
    receiver = make_receiver()
    # ~120 records of ~1 kB gzipped in batches of 3, capped at 8 kB/s: about 12 s of sending,
    # so each kill (at most 0.4 s into sending) lands mid-drain.
    sync = sync_settings(receiver.url, idle_s=1e9, batch_records=3, bandwidth_bytes_s=8000)
    site = make_services("site", sync=sync)
    seeded = seed(site, 120, turns_each=2)
    collected = site.sync.collect()
    assert (collected.summaries, collected.feedback) == (0, 120)
    expected = set(site.outbox.keys())
    assert expected == {f"site-a:feedback:{i}" for i in seeded.feedback}
    config = write_config(tmp_path / "site.toml", {"sync": sync})
    without_cap = {k: v for k, v in sync.items() if k != "bandwidth_bytes_s"}
    uncapped = write_config(
        tmp_path / "uncapped.toml", {"sync": {**without_cap, "batch_records": 50}}
    )

    rng = random.Random(20261123)
    backlogs = []
    for _ in range(KILLS):
        process = _start(config, site.data_dir)
        assert process.stderr is not None
        while True:  # wait until it is sending (its first batch is on the way)
            line = process.stderr.readline()
            assert line, f"sync now ended before sending: rc {process.wait()}"
            if line.startswith("sending "):
                break
        try:
            process.wait(rng.uniform(0.0, 0.4))
        except subprocess.TimeoutExpired:
            process.kill()  # SIGKILL
        process.wait()
        process.stderr.close()
        assert process.returncode == -9, "the drain finished before it could be killed"
        backlogs.append(site.outbox.status().backlog)
    assert all(0 < b < len(expected) for b in backlogs)
    assert backlogs == sorted(backlogs, reverse=True)

    status = subprocess.run(
        shiftmate(config, site.data_dir, "sync", "status", "--json"),
        capture_output=True, text=True, env=clean_env(), timeout=120,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["backlog"] == backlogs[-1]

    final = subprocess.run(
        shiftmate(uncapped, site.data_dir, "sync", "now", "--json"),
        capture_output=True, text=True, env=clean_env(), timeout=300,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["sent"]["backlog"] == 0
    stored = [r.key for r in receiver.records()]
    assert len(stored) == len(set(stored))
    assert set(stored) == expected
    receipts = Counter(receiver.receipts())
    assert set(receipts) == expected
    assert site.outbox.status().backlog == 0
