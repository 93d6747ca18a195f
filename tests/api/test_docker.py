"""The container files, checked without a Docker engine: the compose file parses and names the
broker and Shiftmate with their config, and the image installs as setup.sh does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from assistant.settings import ApiSettings, load_settings
from tests.conftest import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"


def instructions(path: Path) -> list[tuple[str, str]]:
    """Return a Dockerfile's (INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def compose() -> dict[str, Any]:
    """Return the parsed compose file."""
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


def test_compose_runs_shiftmate_beside_mosquitto_with_its_config() -> None:
    services = compose()["services"]
    assert set(services) == {"mosquitto-users", "mosquitto", "shiftmate", "chroma"}
    broker = services["mosquitto"]
    assert broker["image"].startswith("eclipse-mosquitto:")
    config_mount = next(v for v in broker["volumes"] if v.endswith("/mosquitto.conf:ro"))
    assert (DOCKER / config_mount.split(":")[0]).resolve().is_file()
    app = services["shiftmate"]
    assert (DOCKER / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (
        DOCKER / "Dockerfile"
    )
    assert app["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    env = app["environment"]
    assert env["SHIFTMATE_MQTT__HOST"] == "mosquitto"
    assert any(v.endswith(":/data") for v in app["volumes"])
    assert env["SHIFTMATE_DATA_DIR"] == "/data"
    assert app["ports"] == [f"{ApiSettings().port}:{env['SHIFTMATE_API__PORT']}"]
    assert set(compose()["volumes"]) == {
        "shiftmate-data",
        "mosquitto-data",
        "mosquitto-passwords",
        "chroma-data",
    }
    # The plant file the compose file names is the sample plant the image ships.
    shipped = env["SHIFTMATE_PLANT__FILE"].split("site-packages/", 1)[1]
    assert (PROJECT_ROOT / shipped).is_file()
    # Every SHIFTMATE_* variable is a real setting.
    overrides = {k: v for k, v in env.items() if k.startswith("SHIFTMATE_")}
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        section, _, name = key.removeprefix("SHIFTMATE_").lower().partition("__")
        if name:
            values.setdefault(section, {})[name] = value
        else:
            values[section] = value
    values["plant"] = {}  # the file exists only inside the image
    settings = load_settings(None, values)
    assert settings.mqtt.host == "mosquitto" and settings.api.host == "0.0.0.0"


def test_mosquitto_config_listens_and_persists() -> None:
    lines = [
        line.split(None, 1)
        for line in (DOCKER / "mosquitto" / "mosquitto.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    options = {key: value for key, value in lines}
    assert options["listener"] == "1883"
    assert options["allow_anonymous"] == "false"
    assert options["password_file"] == "/mosquitto/passwords/passwords"
    assert options["acl_file"] == "/mosquitto/config/acl"
    assert options["persistence"] == "true"
    assert int(options["max_queued_messages"]) >= 1000


def test_image_installs_like_setup_sh_and_runs_as_a_non_root_user() -> None:
    steps = instructions(DOCKER / "Dockerfile")
    stages = [rest for word, rest in steps if word == "FROM"]
    assert len(stages) == 2 and stages[0].endswith("AS build")
    runs = [rest for word, rest in steps if word == "RUN"]
    setup = (PROJECT_ROOT / "setup.sh").read_text()
    torch_version = re.search(r'TORCH_VERSION="\$\{TORCH_VERSION:-([0-9.]+)\}"', setup)
    assert torch_version is not None
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    assert args["TORCH_VERSION"] == torch_version.group(1) == "2.13.0"
    assert args["TORCH_INDEX_URL"].endswith("/whl/cpu")
    # llama.cpp is compiled with the same portable flags (no -march=native, no AMX) in both
    llama = re.search(r'LLAMA_CMAKE_ARGS="([^"]+)"', setup)
    assert llama is not None and "-DGGML_NATIVE=OFF" in llama.group(1)
    assert args["LLAMA_CMAKE_ARGS"].strip('"') == llama.group(1)
    assert any(r.startswith('CMAKE_ARGS="$LLAMA_CMAKE_ARGS" ') for r in runs)
    torch_step = next(i for i, r in enumerate(runs) if '"torch==${TORCH_VERSION}"' in r)
    project_step = next(
        i for i, r in enumerate(runs) if shlex.split(r)[-3:] == ["pip", "install", "."]
    )
    verify_step = next(i for i, r in enumerate(runs) if "shiftmate models verify" in r)
    assert torch_step < project_step < verify_step  # the order of setup.sh
    assert (
        setup.index('"torch==$TORCH_VERSION"')
        < setup.index('-e ".[dev]"')
        < setup.index("models verify")
    )
    # The runtime stage: the venv from the build stage, a non-root user, the data volume.
    runtime = steps[[i for i, (w, _) in enumerate(steps) if w == "FROM"][1] :]
    words = dict(runtime)
    assert words["COPY"].startswith("--from=build ")
    assert words["USER"] not in ("root", "0")
    assert words["VOLUME"] == '["/data"]'
    assert "/health" in words["HEALTHCHECK"]
    assert words["ENTRYPOINT"] == '["shiftmate"]' and words["CMD"] == '["serve"]'
    env = words["ENV"]
    assert "SHIFTMATE_DATA_DIR=/data" in env and "SHIFTMATE_API__HOST=0.0.0.0" in env
    # Everything the image copies exists, and the ignore file lets it through.
    for word, rest in steps:
        if word == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (PROJECT_ROOT / source).exists(), source
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1 :][:6] == [
        "!pyproject.toml",
        "!README.md",
        "!assistant/",
        "!connectors/",
        "!models/",
        "!tui/",
    ]


def test_the_optional_chroma_service_matches_the_client_and_is_not_published() -> None:
    from importlib.metadata import version

    chroma = compose()["services"]["chroma"]
    assert chroma["profiles"] == ["chroma"]  # started only with --profile chroma
    assert chroma["image"] == f"chromadb/chroma:{version('chromadb')}"  # server = client version
    assert "ports" not in chroma  # only the compose network reaches it (no auth in chroma 1.x)
    assert "chroma-data:/data" in chroma["volumes"]
    # The URL the compose file tells Shiftmate to use is a valid setting.
    header = (DOCKER / "compose.yaml").read_text()
    assert "SHIFTMATE_KNOWLEDGE__CHROMA_URL=http://chroma:8000" in header
    settings = load_settings(None, {"knowledge": {"chroma_url": "http://chroma:8000"}})
    assert settings.knowledge.chroma_url == "http://chroma:8000"
