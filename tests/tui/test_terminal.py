"""End to end in a real terminal: ``shiftmate demo`` under tmux, a question typed, the answer
and its citation read back from the screen."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PROJECT_ROOT

SHIFTMATE = Path(sys.executable).with_name("shiftmate")
WAIT_S = 240.0
"""Upper bound for start-up (ingest, model load) and for one answer on a loaded machine."""


class Tmux:
    """A tmux server on a private socket, so nothing touches the developer's sessions."""

    def __init__(self, socket: str) -> None:
        tmux = shutil.which("tmux")
        assert tmux is not None, "tmux is needed (./setup.sh installs it)"
        self.base = [tmux, "-L", socket, "-f", os.devnull]

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a tmux command and return its output."""
        result = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, env=env, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self) -> str:
        """Return what the pane shows now."""
        return self.run("capture-pane", "-p", "-t", "demo")

    def wait_for(self, found: Callable[[str], bool], what: str) -> str:
        """Poll the screen until found(screen) holds; fail with the last screen if it never does."""
        deadline = time.monotonic() + WAIT_S
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if found(screen):
                return screen
            time.sleep(0.5)
        raise AssertionError(f"never saw {what}; the screen was:\n{screen}")

    def open_first_source(self) -> str:
        """Jump to the sources (Ctrl+O) and open the first (Enter), until the passage shows.

        On a loaded machine the Enter can reach the app before the focus has moved to the
        sources list (it then goes to the empty question box and does nothing), so the pair is
        sent again, a second apart, up to three times.
        """
        for _ in range(2):
            self.run("send-keys", "-t", "demo", "C-o")
            time.sleep(1.0)
            self.run("send-keys", "-t", "demo", "Enter")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                screen = self.screen()
                if "Esc closes" in screen and ".md" in screen:
                    return screen
                time.sleep(0.5)
        self.run("send-keys", "-t", "demo", "C-o")
        time.sleep(1.0)
        self.run("send-keys", "-t", "demo", "Enter")
        return self.wait_for(lambda s: "Esc closes" in s and ".md" in s, "the cited passage")


def test_demo_in_tmux_answers_a_typed_question_with_a_citation(tmp_path: Path) -> None:
    tmux = Tmux(f"shiftmate-test-{os.getpid()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    env["TERM"] = "xterm-256color"
    # the shell says how the demo ended, then keeps the pane open to be read
    command = f"{SHIFTMATE} --data-dir {tmp_path} demo --operator e2e; echo demo-exit-$?; sleep 600"
    try:
        tmux.run(
            "new-session",
            "-d",
            "-s",
            "demo",
            "-x",
            "100",
            "-y",
            "30",
            "-c",
            str(PROJECT_ROOT),
            command,
            env=env,
        )
        tmux.wait_for(lambda s: "Ask a question" in s and "broker ok" in s, "the terminal UI")
        tmux.run("send-keys", "-t", "demo", "-l", "How do I clean strainer ST-101?")
        tmux.run("send-keys", "-t", "demo", "Enter")
        screen = tmux.wait_for(
            lambda s: re.search(r"\[D\d+\] pump-p101-p102-om-manual\.md", s) is not None,
            "a cited passage of the pump manual",
        )
        # the answer quotes the cleaning procedure (a long one scrolls the question away)
        assert re.search(r"\b\d+\. [A-Z]", screen), screen
        # the sources, then the first cited passage, by keys
        tmux.open_first_source()
        tmux.run("send-keys", "-t", "demo", "Escape")
        tmux.wait_for(lambda s: "Ask a question" in s, "the chat again")
        tmux.run("send-keys", "-t", "demo", "C-q")
        ended = tmux.wait_for(lambda s: "demo-exit-" in s, "the demo to end")
        assert "demo-exit-0" in ended
    finally:
        subprocess.run([*tmux.base, "kill-server"], capture_output=True, timeout=30, check=False)
    journal = tmp_path / "demo" / "journal.sqlite3"
    with contextlib.closing(sqlite3.connect(journal)) as db:
        asked = db.execute("SELECT question, citations FROM turns").fetchall()
    assert [q for q, _ in asked] == ["How do I clean strainer ST-101?"]
    assert any(c["id"].startswith("D") for c in json.loads(asked[0][1]))
