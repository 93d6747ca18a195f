"""The settings tree: sources, priorities and errors that name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.settings import load_settings, to_toml


def test_defaults_need_no_file_and_use_the_xdg_data_home(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == tmp_path / "xdg" / "shiftmate"
    assert settings.models.llm == "smollm2-135m-instruct"
    assert settings.models.embedder == "all-minilm-l6-v2"


def test_file_then_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "shiftmate.toml"
    config.write_text(
        'data_dir = "/srv/a"\n[chat]\ntop_k = 7\nmax_tokens = 100\n[models]\nn_ctx = 2048\n'
    )
    settings = load_settings(config)
    assert (settings.data_dir, settings.chat.top_k, settings.models.n_ctx) == (
        Path("/srv/a"),
        7,
        2048,
    )

    monkeypatch.setenv("SHIFTMATE_CHAT__TOP_K", "9")
    monkeypatch.setenv("SHIFTMATE_DATA_DIR", "/srv/b")
    settings = load_settings(config)
    assert settings.chat.top_k == 9
    assert settings.chat.max_tokens == 100  # the rest of the section still comes from the file
    assert settings.data_dir == Path("/srv/b")

    settings = load_settings(config, {"data_dir": tmp_path / "c"})
    assert settings.data_dir == tmp_path / "c"


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "site.toml"
    config.write_text("[knowledge]\nchunk_chars = 600\n")
    monkeypatch.setenv("SHIFTMATE_CONFIG", str(config))
    assert load_settings().knowledge.chunk_chars == 600


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[models]\nn_ctx = 10\n", "models.n_ctx"),
        ("[chat]\ntemperature = 'hot'\n", "chat.temperature"),
        ("[knowledge]\nasset_pattern = '([A-Z'\n", "knowledge.asset_pattern"),
        ("[models]\nllm_sha256 = 'abc'\n", "models.llm_sha256"),
        ("[chat]\nnot_a_setting = 1\n", "chat.not_a_setting"),
        ("log_level = 'LOUD'\n", "log_level"),
        ("[models]\nbase_url = 'ftp://box/v1'\n", "models.base_url"),
        ("[models]\nembedder_base_url = 'box:8080'\n", "models.embedder_base_url"),
        ("[models]\nbackend = 'openai'\n", "models.base_url"),
        ("[models]\nembedder_backend = 'openai'\n", "models.embedder_base_url"),
        ("[knowledge]\nchroma_url = 'http://box:8000/path'\n", "knowledge.chroma_url"),
        ("[knowledge]\nhnsw_m = 1\n", "knowledge.hnsw_m"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert key in str(caught.value)


def test_invalid_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIFTMATE_CHAT__TOP_K", "many")
    with pytest.raises(ConfigError, match=r"chat\.top_k"):
        load_settings()


def test_unreadable_and_malformed_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[chat\ntop_k = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_config_show_output_reads_back_to_the_same_settings(tmp_path: Path) -> None:
    config = tmp_path / "shiftmate.toml"
    config.write_text("[chat]\nstop = ['###']\ntop_k = 3\n")
    settings = load_settings(config, {"data_dir": tmp_path / "d"})
    shown = tmp_path / "shown.toml"
    shown.write_text(to_toml(settings.model_dump(mode="json")))
    assert tomllib.loads(shown.read_text())["chat"]["top_k"] == 3
    assert load_settings(shown) == settings


@pytest.mark.parametrize(
    ("toml", "env", "key", "value"),
    [
        ("[sync]\ntoken = 73519264\n", {}, "sync.token", "73519264"),
        ("[mqtt]\npassword = ['hunter2-secret']\n", {}, "mqtt.password", "hunter2-secret"),
        ("[cloud.tokens]\nsite-a = 48151623\n", {}, "cloud.tokens.site-a", "48151623"),
        ("[sync.mqtt]\npassword = 27182818\n", {}, "sync.mqtt.password", "27182818"),
        # A misspelt secret is an unknown key: its value is not repeated either.
        ("[mqtt]\npasword = 'hunter2-secret'\n", {}, "mqtt.pasword", "hunter2-secret"),
        (
            "",
            {"SHIFTMATE_CLOUD__TOKENS": '{"site-b": 31415926}'},
            "cloud.tokens.site-b",
            "31415926",
        ),
        ("", {"SHIFTMATE_CLOUD__TOKENS": "tok-not-json-secret"}, "cloud", "tok-not-json-secret"),
    ],
)
def test_an_invalid_secret_names_the_key_never_the_value(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    toml: str,
    env: dict[str, str],
    key: str,
    value: str,
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert key in message
    assert value not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_plain_setting_still_shows_the_value_it_got(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[models]\nn_ctx = 10\n[sync]\ntoken = 'fine-token'\n")
    with pytest.raises(ConfigError, match=r"models\.n_ctx: .* \(got 10\)$"):
        load_settings(config)
