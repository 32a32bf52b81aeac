"""Fixtures for the model worker: the nanochat reference checkpoints and real worker processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from modelworker.checkpoint import open_checkpoint
from modelworker.engine import Engine
from modelworker.model import GPT
from modelworker.tokenizer import Tokenizer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nanochat"
GENERATIONS = ("2025-10", "2026-01", "head", "head-mqa")
INPUTS = (
    "raw_short",
    "raw_medium",
    "raw_long",
    "conv_system",
    "conv_multiturn",
    "conv_literal_special",
)
REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-worker-key"
# Bans <|bos|> and <|assistant_end|> (the same ids in every fixture) so that a sampled sequence
# of these random models runs until its max_tokens instead of stopping by chance.
NEVER_STOP = ((503, -100.0), (507, -100.0))
NEVER_STOP_HTTP = {"503": -100, "507": -100}


@cache
def reference(generation: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / generation / "reference.json").read_text())
    return data


def reference_input(generation: str, name: str) -> dict[str, Any]:
    return next(i for i in reference(generation)["inputs"] if i["name"] == name)


@cache
def loaded(generation: str) -> tuple[GPT, Tokenizer]:
    """The fixture's chat model on CPU in fp32, as the reference was computed."""
    ckpt = open_checkpoint(FIXTURES / generation)
    return GPT(ckpt), Tokenizer.load(ckpt.files.tokenizer_path)


@contextlib.contextmanager
def running_engine(generation: str, **kwargs: Any) -> Iterator[Engine]:
    model, tokenizer = loaded(generation)
    # Room for raw_long (272 prompt tokens) plus 24 generated ones at every fixture.
    kwargs.setdefault("max_context", 320)
    engine = Engine(model, tokenizer, **kwargs)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def metric(base_url: str, name: str) -> float:
    """One sample's value from the worker's /metrics ('name' may carry labels)."""
    _, body = get(base_url.removesuffix("/v1") + "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    url: str  # the OpenAI base URL, ending in /v1
    log: Path

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def worker_process(
    generation: str, *args: str, api_key: str | None = API_KEY, log_dir: Path
) -> Iterator[WorkerProcess]:
    """A real worker (`python -m modelworker serve`) on a free loopback port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MODELWORKER_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO)
    if api_key:
        env["MODELWORKER_API_KEY"] = api_key
    log = log_dir / f"worker-{generation}-{port}.log"
    command = [
        sys.executable,
        "-m",
        "modelworker",
        "serve",
        f"--base-dir={FIXTURES / generation}",
        "--device=cpu",
        "--host=127.0.0.1",
        f"--port={port}",
        "--log-level=warning",
        *args,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    worker = WorkerProcess(process, f"http://127.0.0.1:{port}/v1", log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"the worker exited with {process.returncode}:\n{worker.log_text()}")
            with contextlib.suppress(OSError):
                if get(worker.root + "/health", timeout=1)[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the worker did not become healthy:\n{worker.log_text()}")
            time.sleep(0.1)
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="session")
def api_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """The worker most API tests share: the head-mqa fixture (context 512), with a key and
    embeddings, on one CPU thread (as `make run` serves beside the app on a 2-core machine)."""
    log_dir = tmp_path_factory.mktemp("api-worker")
    with worker_process("head-mqa", "--threads=1", log_dir=log_dir) as worker:
        yield worker
