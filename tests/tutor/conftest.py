"""A real model worker for the TA's tests: chat from the `head` nanochat fixture checkpoint (its
text is noise; the pipeline is real) and /v1/embeddings from all-MiniLM-L6-v2.

Use it by asking for `model_worker` (its OpenAI base URL, shared by the whole session) and
pointing the settings at it, or ask for `with_model_worker`, which does both:

    def test_something(settings, model_worker):
        settings.EUREKA_MODEL_BASE_URL = model_worker
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "tests" / "fixtures" / "nanochat" / "head"
# Process start, the chat model and the embedding model (loaded in the background after start).
START_TIMEOUT = 180.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(root: str) -> dict[str, object] | None:
    """The worker's /health body when it answers 200, else None."""
    try:
        with urllib.request.urlopen(root + "/health", timeout=2) as response:
            if response.status == 200:
                body: dict[str, object] = json.loads(response.read())
                return body
    except (OSError, urllib.error.URLError, ValueError):
        pass
    return None


@pytest.fixture(scope="session")
def model_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m modelworker serve` on a free loopback port, ready for chat and embeddings;
    yields its base URL (`http://127.0.0.1:PORT/v1`). It requires the API key the test settings
    send (EUREKA_MODEL_API_KEY), as a deployed worker would. Stopped by its PID at the end."""
    port = _free_port()
    root = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("model-worker") / "worker.log"
    inherited = ("DJANGO_", "EUREKA_", "MODELWORKER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO),
        MODELWORKER_API_KEY=django_settings.EUREKA_MODEL_API_KEY,
    )
    command = [
        sys.executable,
        "-m",
        "modelworker",
        "serve",
        f"--base-dir={CHECKPOINT}",
        "--device=cpu",
        "--host=127.0.0.1",
        f"--port={port}",
        "--log-level=warning",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the model worker exited with {process.returncode}:\n{log.read_text()}"
                )
            health = _health(root)
            # /health says "embeddings": "loading" until the embedding model is in memory.
            if health is not None and health.get("embeddings") == "ready":
                break
            if health is not None and health.get("embeddings") not in ("loading", "ready"):
                pytest.fail(f"the model worker cannot embed: {health}\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the model worker was not ready in time: {health}\n{log.read_text()}")
            time.sleep(0.2)
        yield f"{root}/v1"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture
def with_model_worker(settings, model_worker: str) -> str:
    """The settings pointed at the session's model worker for one test; returns its base URL."""
    settings.EUREKA_MODEL_BASE_URL = model_worker
    return model_worker


@pytest.fixture
def without_model_worker(settings) -> str:
    """The settings pointed at a loopback port where nothing listens: the model is down."""
    url = f"http://127.0.0.1:{_free_port()}/v1"
    settings.EUREKA_MODEL_BASE_URL = url
    return url
