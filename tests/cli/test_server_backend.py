"""The command line with ``models.backend = "openai"`` against a real llama_cpp.server: `ask
--json` keeps the in-process backend's JSON contract, `draft` produces a valid work order, and
a server that is not there is one line and the model-server exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from assistant.cli.exit_codes import EXIT_CODES
from assistant.schema.answers import AnswerOut
from assistant.workorders.model import validate
from models.errors import ModelServerError
from tests.cli.test_cli import run
from tests.conftest import SAMPLE_PLANT
from tests.servers import LlamaServer, free_port, llama_server  # noqa: F401

QUESTION = "How do I clean strainer ST-101?"
BASE = {
    "SHIFTMATE_PLANT__FILE": str(SAMPLE_PLANT / "plant.toml"),
    "SHIFTMATE_CHAT__ANSWER_MODE": "generative",
    "SHIFTMATE_CHAT__MAX_TOKENS": "48",
    "SHIFTMATE_WORKORDERS__MAX_TOKENS": "256",
}


def _server_env(base_url: str) -> dict[str, str]:
    return {**BASE, "SHIFTMATE_MODELS__BACKEND": "openai", "SHIFTMATE_MODELS__BASE_URL": base_url}


def _keys(value: Any, prefix: str = "") -> set[str]:
    """Return the paths of a JSON value's object keys, recursively (lists not entered: what
    they hold depends on the answer, and the schema checks their items)."""
    if not isinstance(value, dict):
        return set()
    paths = {prefix + key for key in value}
    for key, item in value.items():
        paths |= _keys(item, f"{prefix}{key}.")
    return paths


def test_ask_json_has_the_same_contract_on_either_backend(
    plant_template: Path,
    tmp_path: Path,
    llama_server: LlamaServer,  # noqa: F811
) -> None:
    shutil.copytree(plant_template, tmp_path / "local")
    shutil.copytree(plant_template, tmp_path / "served")
    local = run("ask", QUESTION, "--json", data_dir=tmp_path / "local", env=BASE)
    served = run(
        "ask",
        QUESTION,
        "--json",
        data_dir=tmp_path / "served",
        env=_server_env(llama_server.base_url),
    )
    assert local.returncode == 0, local.stderr
    assert served.returncode == 0, served.stderr
    mine, theirs = json.loads(local.stdout), json.loads(served.stdout)
    for answer in (mine, theirs):  # the wire contract, items of lists and types included
        AnswerOut.model_validate(answer)
    assert _keys(theirs) == _keys(mine)
    assert theirs["mode"] == "generative" and theirs["answer"]
    assert theirs["timings"]["completion_tokens"] > 0
    assert theirs["timings"]["prompt_tokens"] == mine["timings"]["prompt_tokens"]
    assert "POST /v1/completions" in llama_server.log()


def test_draft_over_the_server_is_a_valid_work_order(
    plant_template: Path,
    tmp_path: Path,
    llama_server: LlamaServer,  # noqa: F811
) -> None:
    shutil.copytree(plant_template, tmp_path / "data")
    env = _server_env(llama_server.base_url)
    args = ("draft", "--asset", "ST-101", "--question", QUESTION, "--by", "ann", "--json")
    drafted = run(*args, data_dir=tmp_path / "data", env=env)
    assert drafted.returncode == 0, drafted.stderr
    order = json.loads(drafted.stdout)
    assert validate(order).asset == "ST-101" and order["status"] == "draft"
    listed = run("workorders", "list", "--json", data_dir=tmp_path / "data", env=env)
    assert [o["id"] for o in json.loads(listed.stdout)] == [order["id"]]


def test_no_server_there_is_one_line_and_its_exit_code(
    plant_template: Path, tmp_path: Path
) -> None:
    shutil.copytree(plant_template, tmp_path / "data")
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    env = {**_server_env(nobody), "SHIFTMATE_MODELS__RETRIES": "0"}
    args = ("draft", "--asset", "ST-101", "--question", QUESTION, "--by", "ann")
    result = run(*args, data_dir=tmp_path / "data", env=env)
    assert result.returncode == EXIT_CODES[ModelServerError] == 13
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"the model server at {nobody} could not be reached" in result.stderr
    assert "models.api_key" not in result.stderr
