"""A Celery worker is killed in the middle of a task: real worker processes (`celery worker`, as
docker compose runs them) on a Redis broker of the test's own, grading a student's short answer.
The task is delivered again to the next worker and takes effect once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import close_old_connections

from courses.selectors import latest_version, version_spec
from tests.eureka.test_celery_worker import celery_on_broker
from tests.faults.conftest import REPO, child_env, end_process, suite_database_url, wait_for
from tutor import services
from tutor.models import Attempt, ConceptMastery, ExerciseProgress, ItemDifficulty
from tutor.tasks import grade_short_answer

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VERDICT = {"correct": True, "feedback": "Yes: the counts are scaled to sum to one."}
# A task taken by a worker that died goes back to the queue once it has been unacknowledged
# this long (the broker's visibility timeout, short here). A worker looks for such tasks as it
# starts, then only every 100 s or so (kombu's restore interval times its throttle): a worker
# that starts before the timeout has run out finds nothing until much later.
VISIBILITY_TIMEOUT = 2


class Grader:
    """A stand-in grading model (an OpenAI-compatible server on loopback) that holds its first
    request until the test lets go, so the worker that sent it can be killed mid-task."""

    def __init__(self) -> None:
        self.requests = 0
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        grader = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                grader.requests += 1
                if grader.requests == 1:
                    grader.first_arrived.set()
                    grader.release.wait(60)
                message = {"role": "assistant", "content": json.dumps(VERDICT)}
                body = json.dumps(
                    {
                        "id": "g",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "grader",
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    }
                ).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the worker that asked is dead

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Grader:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def grader() -> Iterator[Grader]:
    with Grader() as server:
        yield server


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "eureka",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname={name}@%h",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def graded(attempt_id: int) -> Attempt | None:
    close_old_connections()
    attempt = Attempt.objects.get(pk=attempt_id)
    return attempt if attempt.grading != Attempt.Grading.PENDING else None


def test_a_grading_task_whose_worker_is_killed_runs_again_and_grades_once(
    sample_course, sample_student, own_redis, grader, settings, tmp_path
):
    version = latest_version(sample_course)
    step = version_spec(version).step("probabilities")
    exercise = next(e for e in step.exercises if e.slug == "name-the-step")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    env = child_env(
        DJANGO_SETTINGS_MODULE="eureka.settings.local",
        DATABASE_URL=suite_database_url(),
        REDIS_URL=own_redis.url,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        EUREKA_MODEL_BASE_URL=grader.url,
        EUREKA_CHAT_MODEL="grader",
        EUREKA_DATA_DIR=str(tmp_path / "unused"),
    )
    log = tmp_path / "workers.log"
    workers: list[subprocess.Popen] = []
    with celery_on_broker(own_redis.url):
        try:
            # The student's answer is stored, and its grading queued after the commit.
            attempt = services.attempt_submit(
                user=sample_student,
                version=version,
                step=step,
                exercise=exercise,
                answer="scaling so they add up to 1",
            ).attempt
            assert attempt.grading == Attempt.Grading.PENDING

            first = start_worker("first", env, log)
            workers.append(first)
            if not grader.first_arrived.wait(90):
                pytest.fail(f"the first worker never asked for a grade:\n{log.read_text()}")
            # Mid-task: the worker has the task and waits for the model. Killed by its PID,
            # with no chance to acknowledge, reject or requeue anything.
            end_process(first, sig=signal.SIGKILL)
            assert first.returncode == -signal.SIGKILL
            assert graded(attempt.pk) is None, "the killed run changed nothing"

            time.sleep(VISIBILITY_TIMEOUT + 1)  # the task is now due to go back to the queue
            workers.append(start_worker("second", env, log))
            done = wait_for(
                lambda: graded(attempt.pk),
                timeout=90,
                interval=0.5,
                what="the task to be delivered again",
            )
            assert grader.requests >= 2, "the second worker asked the model again"

            # A duplicate delivery (another worker lost mid-task, a retry) changes nothing.
            again = grade_short_answer.delay(attempt.pk)
            assert again.get(timeout=60) == Attempt.Grading.MODEL
        finally:
            grader.release.set()
            for worker in workers:
                end_process(worker)
    assert done.correct and done.grading == Attempt.Grading.MODEL
    assert done.feedback == VERDICT["feedback"]
    # The effect happened once: one answer in the learner model and the item's statistics.
    mastery = ConceptMastery.objects.get(user=sample_student, concept_slug="normalisation")
    assert mastery.observations == 1
    assert ItemDifficulty.objects.get(exercise_slug="name-the-step").answers == 1
    assert ExerciseProgress.objects.get(user=sample_student, exercise_slug="name-the-step").solved
    worker_log = log.read_text()
    assert "Task tutor.grade_short_answer" in worker_log and "succeeded" in worker_log
