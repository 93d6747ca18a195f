"""Signed model updates end to end: a real receiver on loopback, the real default GGUF, the CLI.

The cloud signs and publishes with ``shiftmate cloud keygen`` / ``cloud publish-model``; the
edge lists, downloads (resumably), verifies, smoke-tests (the model really loads and answers),
switches and rolls back with ``shiftmate models ...`` in subprocesses, as a site would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.errors import UpdateError
from assistant.services import Services
from assistant.settings import load_settings
from assistant.updates.download import ModelClient
from assistant.updates.install import installed_path, read_pointer
from assistant.updates.manifest import MANIFEST_FILE, MODEL_FILE, SignedManifest
from models import registry
from models.gguf import sha256_file
from tests.brokers import make_tls_files
from tests.cloud.receiver import CloudReceiver, clean_env, shiftmate, write_config

SITE, TOKEN = "site-a", "site-a-token-0123456789"
UPDATE_ERROR_EXIT = 14


@dataclass
class Cloud:
    """The receiver, its signing key's public half, and its folder of published models."""

    receiver: CloudReceiver
    public_key: str
    ca_file: Path

    @property
    def models(self) -> Path:
        """Return where published models are kept."""
        return self.receiver.data_dir / "cloud" / "models"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a shiftmate command with the receiver's config."""
        return run(shiftmate(self.receiver.config, self.receiver.data_dir, *args))

    def publish(self, source: Path, name: str, version: str, *extra: str) -> None:
        """Publish a GGUF and assert it worked."""
        done = self.cli("cloud", "publish-model", str(source), "--name", name,
                        "--version", version, *extra)  # fmt: skip
        assert done.returncode == 0, done.stderr


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command and return its outcome (text)."""
    return subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=300)


@pytest.fixture(scope="module")
def real_gguf() -> Path:
    """Return the real default chat model."""
    return registry.resolve("smollm2-135m-instruct", "llm").path


@pytest.fixture(scope="module")
def variant_gguf(real_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the real model with one metadata letter changed: another sha256, still loads."""
    data = bytearray(real_gguf.read_bytes())
    at = data.find(b"Mix1 Ep2")
    assert 0 < at < 4096
    data[at + 7 : at + 8] = b"3"
    path = tmp_path_factory.mktemp("variant") / "variant.gguf"
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """Start a receiver (HTTPS, its own CA) with one site and create its signing key."""
    directory = tmp_path_factory.mktemp("cloud")
    tls, _, _ = make_tls_files(directory / "tls")
    receiver = CloudReceiver(
        directory, tokens={SITE: TOKEN},
        ssl_certfile=tls.cert_file, ssl_keyfile=tls.key_file, ca_file=tls.ca_file,
    )  # fmt: skip
    with receiver:
        keygen = run(shiftmate(receiver.config, receiver.data_dir, "cloud", "keygen"))
        assert keygen.returncode == 0, keygen.stderr
        key_file = receiver.data_dir / "cloud" / "signing.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert keygen.stdout.strip() not in key_file.read_text()  # the private half is not it
        yield Cloud(receiver, keygen.stdout.strip(), tls.ca_file)


@dataclass
class Edge:
    """One site: its config, data dir and the CLI."""

    config: Path
    data_dir: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a shiftmate command on this site."""
        return run(shiftmate(self.config, self.data_dir, *args))

    def pointer(self) -> dict[str, Any]:
        """Return the active model pointer."""
        return read_pointer(self.data_dir)


def make_edge(path: Path, cloud: Cloud | None, keys: list[str], **models: Any) -> Edge:
    """Write a site's config: the cloud's uplink (or none) and the trusted keys."""
    sections: dict[str, dict[str, Any]] = {"models": {"trusted_keys": keys, **models}}
    if cloud is not None:
        sections["sync"] = {
            "site_id": SITE, "endpoint": cloud.receiver.url, "token": TOKEN,
            "ca_file": cloud.ca_file,
        }  # fmt: skip
    return Edge(write_config(path / "edge.toml", sections), path / "data")


def test_publish_list_update_switch_and_roll_back(
    cloud: Cloud, real_gguf: Path, variant_gguf: Path, tmp_path: Path
) -> None:
    cloud.publish(real_gguf, "plant-llm", "1.0")
    cloud.publish(variant_gguf, "plant-llm", "1.1")
    again = cloud.cli("cloud", "publish-model", str(real_gguf), "--name", "plant-llm",
                      "--version", "1.0")  # fmt: skip
    assert again.returncode == UPDATE_ERROR_EXIT and "already published" in again.stderr
    edge = make_edge(tmp_path, cloud, [cloud.public_key])
    assert cloud.receiver.url.startswith("https://")  # the uplink's TLS, checked against its CA

    listed = edge.cli("models", "updates", "--json")
    assert listed.returncode == 0, listed.stderr
    offered = {
        r["version"]: r for r in json.loads(listed.stdout)["offered"] if r["name"] == "plant-llm"
    }
    assert offered["1.0"]["sha256"] == sha256_file(real_gguf)
    assert offered["1.0"]["size"] == real_gguf.stat().st_size
    assert offered["1.0"]["trust"] == "trusted" and not offered["1.0"]["installed"]

    first = edge.cli("models", "update", "plant-llm", "--version", "1.0", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["switched"] is True and report["smoke"]["answer"]
    assert "downloaded" in first.stderr and "(100%)" in first.stderr
    installed = installed_path(edge.data_dir, "plant-llm", "1.0")
    assert sha256_file(installed) == sha256_file(real_gguf)
    assert edge.pointer()["current"]["version"] == "1.0"

    newest = edge.cli("models", "update", "plant-llm")  # the newest: 1.1
    assert newest.returncode == 0, newest.stderr
    assert "switched to plant-llm 1.1" in newest.stdout
    # what the services load (and every answer records) is the switched-to model
    settings = load_settings(edge.config, {"data_dir": edge.data_dir})
    with Services(settings) as services:
        assert services.llm_model.path == installed_path(edge.data_dir, "plant-llm", "1.1")
        assert services.llm_sha256 == sha256_file(variant_gguf)
    listed = json.loads(edge.cli("models", "updates", "--json").stdout)
    active = [r["version"] for r in listed["offered"] if r["active"]]
    assert active == ["1.1"]

    back = edge.cli("models", "rollback")
    assert back.returncode == 0 and "rolled back to plant-llm 1.0" in back.stdout
    assert edge.pointer()["current"]["version"] == "1.0"
    back = edge.cli("models", "rollback")
    assert back.returncode == 0 and "smollm2-135m-instruct (models.llm)" in back.stdout
    assert edge.pointer()["current"] is None
    with Services(load_settings(edge.config, {"data_dir": edge.data_dir})) as services:
        assert services.llm_model.path == real_gguf
    none_left = edge.cli("models", "rollback")
    assert none_left.returncode == UPDATE_ERROR_EXIT and "nothing to roll back" in none_left.stderr


def _publish_copy(cloud: Cloud, source: Path, name: str) -> Path:
    cloud.publish(source, name, "1")
    return cloud.models / name / "1"


def test_a_tampered_file_is_refused_and_nothing_switches(
    cloud: Cloud, real_gguf: Path, tmp_path: Path
) -> None:
    folder = _publish_copy(cloud, real_gguf, "tampered")
    with (folder / MODEL_FILE).open("r+b") as file:  # one byte of the weights, same size
        file.seek(real_gguf.stat().st_size - 1000)
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 0xFF]))
    edge = make_edge(tmp_path, cloud, [cloud.public_key])
    done = edge.cli("models", "update", "tampered")
    assert done.returncode == UPDATE_ERROR_EXIT
    assert "sha256 mismatch" in done.stderr and "tampered or damaged" in done.stderr
    assert edge.pointer()["current"] is None
    assert not list((edge.data_dir / "models").glob("tampered-*"))


def test_a_wrong_signature_is_refused_before_download(
    cloud: Cloud, real_gguf: Path, tmp_path: Path
) -> None:
    folder = _publish_copy(cloud, real_gguf, "forged")
    document = json.loads((folder / MANIFEST_FILE).read_text())
    document["manifest"]["created"] = "2020-01-01T00:00:00+00:00"  # signed fields changed
    (folder / MANIFEST_FILE).write_text(json.dumps(document))
    edge = make_edge(tmp_path, cloud, [cloud.public_key])
    listed = json.loads(edge.cli("models", "updates", "--json").stdout)["offered"]
    forged = next(r for r in listed if r["name"] == "forged")
    assert forged["trust"].startswith("untrusted") and "does not match" in forged["trust"]
    done = edge.cli("models", "update", "forged")
    assert done.returncode == UPDATE_ERROR_EXIT
    assert "the signature does not match its manifest" in done.stderr
    assert "downloaded" not in done.stderr
    assert not list((edge.data_dir / "models").glob("forged-*"))


def test_an_unknown_key_is_refused(cloud: Cloud, real_gguf: Path, tmp_path: Path) -> None:
    _publish_copy(cloud, real_gguf, "stranger")
    other = run(shiftmate(cloud.receiver.config, cloud.receiver.data_dir, "cloud", "keygen",
                          "--out", str(tmp_path / "other.key")))  # fmt: skip
    assert other.returncode == 0
    edge = make_edge(tmp_path, cloud, [other.stdout.strip()])
    done = edge.cli("models", "update", "stranger")
    assert done.returncode == UPDATE_ERROR_EXIT
    assert "not in models.trusted_keys" in done.stderr
    nobody = make_edge(tmp_path / "none", cloud, [])
    done = nobody.cli("models", "update", "stranger")
    assert done.returncode == UPDATE_ERROR_EXIT and "no trusted keys" in done.stderr


class Cut(Exception):
    """The connection 'drops' here."""


def test_an_interrupted_download_resumes_with_a_range(
    cloud: Cloud, real_gguf: Path, tmp_path: Path
) -> None:
    _publish_copy(cloud, real_gguf, "resumed")
    edge = make_edge(tmp_path, cloud, [cloud.public_key])
    settings = load_settings(edge.config, {"data_dir": edge.data_dir})
    target = installed_path(edge.data_dir, "resumed", "1").with_name("resumed-1.gguf.download")
    size = real_gguf.stat().st_size
    cut_at = 20 << 20

    def drop(have: int, total: int) -> None:
        if have >= cut_at:
            raise Cut

    with ModelClient(settings.sync) as client, pytest.raises(Cut):
        client.download("resumed", "1", target, size, drop)
    part = target.with_name(target.name + ".part")
    left = part.stat().st_size
    assert cut_at <= left < size and not target.exists()

    # the receiver answers a range with 206 and exactly the rest
    response = httpx.get(
        f"{cloud.receiver.url}/v1/models/resumed/1",
        headers={"Authorization": f"Bearer {TOKEN}", "Range": f"bytes={size - 10}-"},
        trust_env=False,
        verify=cloud.receiver.verify,
    )
    assert response.status_code == 206 and response.content == real_gguf.read_bytes()[-10:]
    assert response.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
    unauthorized = httpx.get(
        f"{cloud.receiver.url}/v1/models/resumed/1", trust_env=False, verify=cloud.receiver.verify
    )
    assert unauthorized.status_code == 401

    done = edge.cli("models", "update", "resumed")  # the CLI goes on from the .part file
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith("downloaded")]
    assert int(progress[0].split()[1]) > left  # the first report already counts the old bytes
    assert not part.exists()
    assert sha256_file(installed_path(edge.data_dir, "resumed", "1")) == sha256_file(real_gguf)

    with ModelClient(settings.sync) as client, pytest.raises(UpdateError, match="404"):
        client.download("nothing", "1", tmp_path / "x.gguf", 10)


def test_a_model_failing_its_smoke_test_is_never_switched_to(
    cloud: Cloud, real_gguf: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    with real_gguf.open("rb") as source:  # a real GGUF header, its tensors cut off
        broken.write_bytes(source.read(3 << 20))
    _publish_copy(cloud, broken, "broken")
    edge = make_edge(tmp_path, cloud, [cloud.public_key])
    done = edge.cli("models", "update", "broken")
    assert done.returncode == UPDATE_ERROR_EXIT and "smoke test failed" in done.stderr
    assert edge.pointer()["current"] is None
    assert not list((edge.data_dir / "models").glob("broken-*"))

    _publish_copy(cloud, real_gguf, "slow")  # a real model that cannot answer in its budget
    hurried = make_edge(tmp_path / "hurried", cloud, [cloud.public_key], smoke_timeout_s=0.05)
    done = hurried.cli("models", "update", "slow")
    assert done.returncode == UPDATE_ERROR_EXIT
    assert "did not load and answer within models.smoke_timeout_s = 0.05 s" in done.stderr
    assert hurried.pointer()["current"] is None


def test_import_a_bundle_with_no_network(
    cloud: Cloud, real_gguf: Path, variant_gguf: Path, tmp_path: Path
) -> None:
    tar = tmp_path / "plant-llm-2.tar"
    folder = tmp_path / "plant-llm-3"
    cloud.publish(real_gguf, "offline-llm", "2", "--bundle", str(tar))
    cloud.publish(variant_gguf, "offline-llm", "3", "--bundle", str(folder))
    assert not (cloud.models / "offline-llm").exists()  # a bundle is not put on offer
    edge = make_edge(tmp_path / "site", None, [cloud.public_key])  # no sync.endpoint at all
    no_uplink = edge.cli("models", "updates")
    assert no_uplink.returncode != 0 and "sync.endpoint is not set" in no_uplink.stderr

    done = edge.cli("models", "import", str(tar), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["installed"]["sha256"] == sha256_file(real_gguf)
    done = edge.cli("models", "import", str(folder))
    assert done.returncode == 0 and "switched to offline-llm 3" in done.stdout
    assert edge.pointer()["current"]["version"] == "3"
    assert edge.cli("models", "rollback").returncode == 0
    assert edge.pointer()["current"]["version"] == "2"

    # a bundle whose model was swapped for another keeps its manifest: refused
    swapped = tmp_path / "swapped"
    shutil.copytree(folder, swapped)
    shutil.copyfile(real_gguf, swapped / MODEL_FILE)
    done = edge.cli("models", "import", str(swapped))
    assert done.returncode == UPDATE_ERROR_EXIT
    assert "bytes, the manifest says" in done.stderr or "sha256 mismatch" in done.stderr
    assert edge.pointer()["current"]["version"] == "2"
    assert SignedManifest.read(swapped / MANIFEST_FILE).manifest.version == "3"
