"""The model worker dies in the middle of a reply: a real worker process, killed by its PID while
it streams a reply into a student's chat, then started again on the same port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from tests.faults.conftest import REPO, child_env, end_process, free_port
from tests.tutor.test_ta_chat import connect, student_cookie, until_complete_reply
from tutor.models import Message

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHECKPOINT = REPO / "tests" / "fixtures" / "nanochat" / "head"
# The course-wide chat: no exercise, so neither authored hints nor the solution guard step in
# and every reply comes from the model.
COURSE_CHAT = "/ws/ta/sample-ramp/"
ATTEMPTS = 3  # the noise model may end a reply by itself before the kill lands; then again


@pytest.fixture
def course(sample_files):
    from courses import services

    course = services.course_import(files=sample_files).course
    services.course_publish(course=course, user=None)
    return course


def start_worker(port: int, log: Path, api_key: str) -> subprocess.Popen:
    """`python -m modelworker serve` on `port`, answering chat (a 1024-token context, so a
    reply can run long enough to be cut); returns once /health answers."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelworker",
                "serve",
                f"--base-dir={CHECKPOINT}",
                "--device=cpu",
                "--host=127.0.0.1",
                f"--port={port}",
                "--max-context=1024",
                "--embeddings=off",
                "--log-level=warning",
            ],
            cwd=REPO,
            env=child_env(MODELWORKER_API_KEY=api_key),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            pytest.fail(f"the model worker exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            end_process(process, sig=signal.SIGKILL)
            pytest.fail(f"the model worker did not come up:\n{log.read_text()}")
        time.sleep(0.1)


async def reply_cut_by_a_kill(chat, worker: subprocess.Popen, n: int) -> dict | None:
    """Ask once; at the reply's first streamed words, SIGKILL the worker. Returns the reply's
    final event, or None when it was complete before the worker could be killed."""
    await chat.send_json_to({"type": "message", "text": f"Tell me about counts ({n})"})
    killed = False
    while True:
        event = await chat.receive_json_from(timeout=60)
        if event["type"] != "message" or event["message"]["role"] != "assistant":
            continue
        message = event["message"]
        if message["complete"]:
            return message if killed else None
        if message["html"] and not killed:
            os.kill(worker.pid, signal.SIGKILL)
            await asyncio.to_thread(worker.wait, 10)
            killed = True


async def test_a_worker_killed_mid_reply_leaves_a_notice_then_authored_replies_until_it_is_back(
    course, settings, tmp_path
):
    port = free_port()
    settings.EUREKA_MODEL_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.EUREKA_TA_MAX_TOKENS = 600  # long enough to be killed in the middle
    log = tmp_path / "worker.log"
    workers: list[subprocess.Popen] = []

    async def worker_up() -> subprocess.Popen:
        process = await asyncio.to_thread(start_worker, port, log, settings.EUREKA_MODEL_API_KEY)
        workers.append(process)
        return process

    _, cookie = await student_cookie(course)
    chat = await connect(cookie, COURSE_CHAT)
    try:
        await chat.receive_json_from()  # the history
        cut = None
        for n in range(ATTEMPTS):
            worker = await worker_up()
            cut = await reply_cut_by_a_kill(chat, worker, n)
            if cut is not None and cut["flags"].get("interrupted"):
                break
            if worker.poll() is None:
                end_process(worker)
        assert cut is not None, f"no reply was cut in {ATTEMPTS} tries"
        # The student sees the words that came, then plainly that the model stopped.
        assert cut["flags"]["interrupted"] is True
        assert not cut["flags"].get("generation_off")
        assert "The course model stopped in the middle of this reply" in cut["html"]

        # With the worker gone, the next turn is answered from the course material.
        await chat.send_json_to({"type": "message", "text": "What is a bigram?"})
        off = await until_complete_reply(chat, timeout=30)
        assert off["flags"]["generation_off"] is True
        assert "Generation is off" in off["html"]

        # The worker is back on the same port: generation resumes, with no restart of the app.
        await worker_up()
        await chat.send_json_to({"type": "message", "text": "And what is a count?"})
        back = await until_complete_reply(chat, timeout=60)
        assert not back["flags"].get("generation_off")
        assert not back["flags"].get("interrupted")
        assert back["html"]
    finally:
        await chat.disconnect()
        for process in workers:
            end_process(process, sig=signal.SIGINT)

    stored = await sync_to_async(list)(Message.objects.order_by("created_at", "id"))
    students = [m.content for m in stored if m.role == Message.Role.STUDENT]
    assert "Tell me about counts" in students[0]
    assert students[-2:] == ["What is a bigram?", "And what is a count?"]
    replies = [m for m in stored if m.role == Message.Role.ASSISTANT]
    assert all(m.complete for m in replies), "no conversation is left waiting for a reply"
    kept = next(m for m in replies if m.flags.get("interrupted"))
    words, _ = kept.content.split("\n\n*The course model stopped", 1)
    assert words.strip(), "what the model wrote before it died is kept"
    assert kept.model == "nanochat"
    assert replies[-2].flags.get("generation_off") and replies[-1].model == "nanochat"
