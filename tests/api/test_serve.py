"""``shiftmate serve`` end to end: a key from ``shiftmate keys create``, the server as its own
process, the official ``openai`` client streaming a cited answer from it, and a clean stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import openai

from tests.brokers import HOST, free_port
from tests.cli.test_cli import SHIFTMATE, run


def test_openai_client_streams_from_shiftmate_serve(plant_template: Path, tmp_path: Path) -> None:
    data = tmp_path / "served"
    shutil.copytree(plant_template, data)
    created = run("keys", "create", "--role", "operator", "--name", "e2e", data_dir=data)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    server = subprocess.Popen(
        [str(SHIFTMATE), "--data-dir", str(data), "serve", "--host", HOST, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "shiftmate serve did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{url}/v1/status").status_code == 401
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
        stream = client.chat.completions.create(
            model="shiftmate",
            messages=[{"role": "user", "content": "How do I clean strainer ST-101?"}],
            stream=True,
        )
        text, citations = "", []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.model_extra and "shiftmate" in chunk.model_extra:
                citations = chunk.model_extra["shiftmate"]["citations"]
        assert text.strip() and citations
        assert any("strainer" in c["text"].lower() for c in citations)
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"Shiftmate API on http://{HOST}:{port}" in stderr
