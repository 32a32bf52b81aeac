"""Clients that leave free their slot; a full queue answers 503 with Retry-After."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import openai
import pytest

from tests.modelworker.conftest import (
    API_KEY,
    NEVER_STOP_HTTP,
    WorkerProcess,
    get,
    metric,
    worker_process,
)

MODEL = "nanochat"
LONG = 4500  # tokens: far more than a test waits for


@pytest.fixture(scope="module")
def small_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One batch slot, one queue place, and a context long enough to keep a slot busy."""
    with worker_process(
        "head-mqa",
        "--embeddings=off",
        "--max-batch=1",
        "--max-queue=1",
        "--max-context=5000",
        log_dir=tmp_path_factory.mktemp("small-worker"),
    ) as worker:
        yield worker


@pytest.fixture
def client(small_worker: WorkerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=small_worker.url, api_key=API_KEY, max_retries=0, timeout=60)


def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _cancelled(worker: WorkerProcess) -> float:
    return metric(worker.url, 'modelworker_sequences_finished_total{reason="cancelled"}')


def _idle(worker: WorkerProcess) -> bool:
    return (
        metric(worker.url, "modelworker_running_sequences") == 0
        and metric(worker.url, "modelworker_queue_depth") == 0
    )


def _running_alone(worker: WorkerProcess) -> bool:
    """The one sequence sent is in the batch slot, its queue place free again. (A stream's
    first chunk, the assistant's role, goes out before the engine has taken the sequence from
    the queue: a fast machine answered the next request 503 in that moment.)"""
    return (
        metric(worker.url, "modelworker_running_sequences") == 1
        and metric(worker.url, "modelworker_queue_depth") == 0
    )


def _long_stream(client: openai.OpenAI) -> openai.Stream:
    return client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me everything."}],
        max_tokens=LONG,
        temperature=1.0,
        logit_bias=NEVER_STOP_HTTP,
        stream=True,
    )


def test_a_stream_closed_by_its_client_is_cancelled_and_frees_its_slot(
    client: openai.OpenAI, small_worker: WorkerProcess
) -> None:
    _wait_for(lambda: _idle(small_worker))
    before = _cancelled(small_worker)
    stream = _long_stream(client)
    chunks = iter(stream)
    for _ in range(5):
        assert next(chunks).choices
    assert metric(small_worker.url, "modelworker_running_sequences") == 1
    stream.close()
    _wait_for(lambda: _cancelled(small_worker) == before + 1)
    _wait_for(lambda: _idle(small_worker))
    assert metric(small_worker.url, "modelworker_kv_cache_tokens") == 0
    # The single slot serves the next student at once.
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_a_waiting_client_that_leaves_is_cancelled(small_worker: WorkerProcess) -> None:
    _wait_for(lambda: _idle(small_worker))
    before = _cancelled(small_worker)
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "A long non-streamed answer, please."}],
            "max_tokens": LONG,
            "logit_bias": NEVER_STOP_HTTP,
        }
    ).encode()
    host, port = small_worker.root.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: worker\r\n"
            + f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        _wait_for(lambda: metric(small_worker.url, "modelworker_running_sequences") == 1)
    _wait_for(lambda: _cancelled(small_worker) == before + 1)
    _wait_for(lambda: _idle(small_worker))


def test_a_full_queue_answers_503_with_retry_after(
    client: openai.OpenAI, small_worker: WorkerProcess
) -> None:
    _wait_for(lambda: _idle(small_worker))
    running = _long_stream(client)
    next(iter(running))
    _wait_for(lambda: _running_alone(small_worker))
    waiting = _long_stream(client)
    _wait_for(lambda: metric(small_worker.url, "modelworker_queue_depth") == 1)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "me too"}], max_tokens=4
        )
    error = info.value
    assert error.status_code == 503
    assert error.response.headers["retry-after"] == "1"
    assert isinstance(error.body, dict) and error.body["code"] == "overloaded"
    assert metric(small_worker.url, "modelworker_requests_rejected_queue_full_total") >= 1
    running.close()
    waiting.close()
    _wait_for(lambda: _idle(small_worker))
    status, _ = get(small_worker.root + "/health")
    assert status == 200


def test_the_client_retries_after_a_full_queue_and_gets_served(
    small_worker: WorkerProcess,
) -> None:
    _wait_for(lambda: _idle(small_worker))
    # Patient enough for two 300-token answers on a loaded machine: the worker asks for a retry
    # after 1 s, and 5 retries (about 5 s) once ran out during the whole suite.
    patient = openai.OpenAI(base_url=small_worker.url, api_key=API_KEY, max_retries=30, timeout=60)
    hurried = openai.OpenAI(base_url=small_worker.url, api_key=API_KEY, max_retries=0, timeout=60)

    # Two short answers fill the slot and the queue place; the third waits by retrying.
    def short() -> openai.Stream:
        return hurried.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "short"}],
            max_tokens=300,
            logit_bias=NEVER_STOP_HTTP,
            stream=True,
        )

    first = short()
    next(iter(first))
    _wait_for(lambda: _running_alone(small_worker))
    second = short()
    reply = patient.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "third"}], max_tokens=4
    )
    assert reply.http_response.status_code == 200
    assert reply.retries_taken >= 1
    for stream in (first, second):
        stream.close()
