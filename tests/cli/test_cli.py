"""The shiftmate command line, run as a real subprocess (the installed console script)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SHIFTMATE = Path(sys.executable).with_name("shiftmate")


def run(
    *args: str,
    data_dir: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run the shiftmate console script and capture its output."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    full_env.update(env or {})
    command = [str(SHIFTMATE)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=PROJECT_ROOT,
        timeout=300,
        check=False,
    )


@pytest.fixture
def plant_dir(plant_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "plant"
    shutil.copytree(plant_template, target)
    return target


def test_console_script_is_installed() -> None:
    assert SHIFTMATE.exists(), "install with ./setup.sh"
    assert run("--version").stdout.startswith("shiftmate ")


def test_ask_json_shape(plant_dir: Path) -> None:
    result = run(
        "ask", "What is the unload pressure of compressor C-3?", "--json", data_dir=plant_dir
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {"answer", "citations", "timings", "conversation_id", "cut", "checks"}
    assert set(answer["timings"]) == {
        "retrieval_ms",
        "ttft_ms",
        "total_ms",
        "prompt_tokens",
        "completion_tokens",
    }
    assert answer["mode"] == "extractive"
    assert set(answer["checks"]) == {
        "covered",
        "dropped_citations",
        "unsupported_numbers",
        "unsupported_claims",
        "withheld",
        "stopped_looping",
    }
    assert answer["citations"], answer["answer"]
    for citation in answer["citations"]:
        assert set(citation) == {
            "id",
            "chunk_id",
            "source",
            "section",
            "page",
            "text",
            "quote",
            "start",
            "end",
            "spans",
        }
        # what the answer quoted is the passage's own text, at the offsets given
        text, start, end = citation["text"], citation["start"], citation["end"]
        assert citation["quote"] and citation["quote"] == text[start:end]
        spans = citation["spans"]
        assert spans and min(a for a, _ in spans) == start and max(b for _, b in spans) == end
        assert citation["chunk_id"]
    # the answer's number is what feedback refers to
    turn = answer["turn_id"]
    rated = run(
        "feedback",
        str(turn),
        "--rating",
        "not_helpful",
        "--reason",
        "incomplete",
        "--correction",
        "Unload at the pressure in the C-3 guide.",
        "--by",
        "Dana",
        data_dir=plant_dir,
    )
    assert rated.returncode == 0, rated.stderr
    assert f"on answer {turn}: not_helpful" in rated.stderr
    unknown = run("feedback", "99999", "--rating", "helpful", "--by", "Dana", data_dir=plant_dir)
    assert unknown.returncode == 10
    assert "no answer with turn id 99999" in unknown.stderr


def test_search_json_one_line_per_question(plant_dir: Path) -> None:
    result = run(
        "search",
        "strainer differential pressure",
        "compressor oil change",
        "-k",
        "3",
        "--json",
        data_dir=plant_dir,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == [
        "strainer differential pressure",
        "compressor oil change",
    ]
    for line in lines:
        assert len(line["results"]) == 3
        assert set(line["results"][0]) == {"id", "source", "section", "page", "text", "score"}
        # Results come in hybrid (BM25 + vector) order; the score is the cosine similarity.
        assert all(-1.0 <= r["score"] <= 1.0 for r in line["results"])
        assert len({r["id"] for r in line["results"]}) == 3


def test_ingest_docs_and_failure_exit_code(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "v9.md").write_text("# Valve V-9\n\nV-9 is the bypass gate valve.\n")
    (docs / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    data = tmp_path / "data"
    result = run("ingest", str(docs), data_dir=data)
    assert result.returncode == 1
    assert "bad.pdf" in result.stderr and "1 added" in result.stderr
    listed = json.loads(run("docs", "list", "--json", data_dir=data).stdout)
    assert [Path(d["path"]).name for d in listed] == ["v9.md"]
    removed = run("docs", "remove", str(docs / "v9.md"), data_dir=data)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert json.loads(run("docs", "list", "--json", data_dir=data).stdout) == []


@pytest.mark.parametrize(
    ("args", "env", "message", "code"),
    [
        (("ask", "  "), {}, "empty question", 5),
        (("--config", "/nowhere/s.toml", "config", "show"), {}, "config file not found", 2),
        (("config", "show"), {"SHIFTMATE_CHAT__TOP_K": "0"}, "chat.top_k", 2),
        (("docs", "remove", "/nowhere.md"), {}, "not in the knowledge base", 4),
    ],
)
def test_user_mistakes_get_one_line_and_an_exit_code(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str, code: int
) -> None:
    result = run(*args, data_dir=tmp_path / "d", env=env)
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert result.stderr.strip().startswith("shiftmate: error:")


def test_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run("docs", "list", data_dir=not_a_dir)
    assert result.returncode == 2
    assert "data directory" in result.stderr and "Traceback" not in result.stderr


def test_models_list_and_verify(tmp_path: Path) -> None:
    listed = json.loads(run("models", "list", "--json", data_dir=tmp_path).stdout)
    assert {m["name"] for m in listed if m["configured"]} == {
        "smollm2-135m-instruct",
        "all-minilm-l6-v2",
    }
    verified = run("models", "verify", data_dir=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("ok ") == 2


def test_config_show_names_the_data_dir(tmp_path: Path) -> None:
    shown = run("config", "show", data_dir=tmp_path)
    assert shown.returncode == 0
    assert f'data_dir = "{tmp_path}"' in shown.stdout


def test_config_errors_and_config_show_never_print_a_secret(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[sync]\ntoken = 73519264\n[mqtt]\npasword = 'hunter2-secret'\n")
    refused = run("--config", str(bad), "config", "show", data_dir=tmp_path / "d")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "sync.token" in refused.stderr and "mqtt.pasword" in refused.stderr
    for secret in ("73519264", "hunter2-secret"):
        assert secret not in refused.stdout + refused.stderr

    good = tmp_path / "good.toml"
    good.write_text(
        "[sync]\ntoken = 'tok-73519264'\n[mqtt]\npassword = 'hunter2-secret'\n"
        "[cloud.tokens]\nsite-a = 'tok-48151623'\n"
    )
    toml = run("--config", str(good), "config", "show", data_dir=tmp_path / "d")
    as_json = run("--config", str(good), "config", "show", "--json", data_dir=tmp_path / "d")
    assert toml.returncode == as_json.returncode == 0, toml.stderr + as_json.stderr
    assert "# token = (set, secret: not shown)" in toml.stdout
    assert json.loads(as_json.stdout)["sync"]["token"] == "**********"
    for shown in (toml, as_json):
        for secret in ("tok-73519264", "hunter2-secret", "tok-48151623"):
            assert secret not in shown.stdout + shown.stderr


def test_demo_answers_a_question_with_a_citation(tmp_path: Path) -> None:
    result = run("demo", data_dir=tmp_path, stdin="How do I clean strainer ST-101?\n\n")
    assert result.returncode == 0, result.stderr
    assert "live plant: simulator publishing to the embedded broker" in result.stderr
    assert "Sources:" in result.stdout  # the cited passages, with the passage text
    assert re.search(r"\[D\d+\] pump-p101-p102-om-manual\.md", result.stdout)
    assert re.search(
        r"quoted above: (the whole passage|\d+ part\(s\) of this passage)", result.stdout
    )
    assert (tmp_path / "demo" / "journal.sqlite3").is_file()
