"""What the end-to-end benches run against: a real model worker serving a fixture checkpoint
and the Eureka app (`eureka.launcher`: uvicorn and the embedded PostgreSQL with the sample
course), each a child process on loopback, ended by its PID; and signed-in students."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eureka.launcher import worker_threads

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests/fixtures/nanochat/head"
# The fixture models have a 256-token context: small TA prompts and replies, and no limit on
# messages per minute (the benches send many).
APP_ENV = {
    "EUREKA_TA_PROMPT_CHARS": "300",
    "EUREKA_TA_MAX_TOKENS": "16",
    "EUREKA_TA_MESSAGES_PER_MINUTE": "1000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


@dataclass(frozen=True)
class Stack:
    worker_url: str  # http://127.0.0.1:PORT/v1
    app_url: str  # http://127.0.0.1:PORT
    app_port: int
    data_dir: str
    app_log: Path


@contextlib.contextmanager
def running_stack(
    worker_args: tuple[str, ...] = (), app_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """The worker and the app, started and ready; both stopped (SIGINT, then killed) at the end.
    When the body fails, the end of the app's log is printed."""
    with tempfile.TemporaryDirectory() as tmp:
        worker_port, app_port = free_port(), free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "EUREKA_", "MODELWORKER_"))
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        worker_log, app_log = Path(tmp) / "worker.log", Path(tmp) / "app.log"
        # The worker shares the machine with the app, as `make run` starts them: its threads too.
        worker = subprocess.Popen(
            [sys.executable, "-m", "modelworker", "serve", "--base-dir", str(FIXTURE),
             "--device", "cpu", "--host", "127.0.0.1", "--port", str(worker_port),
             "--threads", str(worker_threads()), *worker_args],
            cwd=ROOT, env=env, stdout=worker_log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        data_dir = str(Path(tmp) / "data")
        worker_url = f"http://127.0.0.1:{worker_port}/v1"
        full_env = {
            **env,
            **APP_ENV,
            "EUREKA_DATA_DIR": data_dir,
            "EUREKA_MODEL_BASE_URL": worker_url,
            **(app_env or {}),
        }
        app = subprocess.Popen(
            [sys.executable, "-m", "eureka.launcher", "--port", str(app_port)],
            cwd=ROOT, env=full_env, stdout=app_log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(f"http://127.0.0.1:{worker_port}/health", worker_log)
            wait_for(f"http://127.0.0.1:{app_port}/healthz", app_log)
            yield Stack(worker_url, f"http://127.0.0.1:{app_port}", app_port, data_dir, app_log)
        except BaseException:
            print("the app's log ends with:\n" + app_log.read_text()[-4000:])
            raise
        finally:
            for process in (app, worker):
                process.send_signal(signal.SIGINT)
            for process in (app, worker):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def in_django(data_dir: str, code: str, env: dict[str, str] | None = None) -> str:
    """Run `code` in a child process with Django set up on the stack's data dir (so the bench's
    own process never loads Django); what it printed last."""
    setup = f"""
import os, django, json
os.environ["EUREKA_DATA_DIR"] = {data_dir!r}
os.environ["DJANGO_SETTINGS_MODULE"] = "eureka.settings.local"
django.setup()
"""
    out = subprocess.run(
        [sys.executable, "-c", setup + code],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"a bench step in Django failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def make_students(stack: Stack, count: int, tag: str) -> list[str]:
    """Enrolled students of the sample course with signed-in sessions. The course is imported
    on the first call, its passages embedded by the stack's worker (as a publish does), so that
    a TA turn runs the whole hybrid search."""
    code = f"""
from django.conf import settings
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import User
from courses import fileformat, services
from courses.models import Course
from tutor.models import Enrollment
if not Course.objects.filter(slug="sample-ramp").exists():
    _, _, files = fileformat.read_folder(settings.BASE_DIR / "tests/fixtures/courses/sample-ramp")
    course = services.course_import(files=files).course
    services.course_publish(course=course, user=None)
course = Course.objects.get(slug="sample-ramp")
from courses.selectors import latest_version
from tutor.models import CourseChunk
chunks = CourseChunk.objects.filter(course_version=latest_version(course))
if not chunks.exists() or chunks.filter(embedding__isnull=True).exists():
    raise SystemExit("the sample course's passages were not embedded by the stack's worker")
cookies = []
for i in range({count}):
    user, _ = User.objects.get_or_create(username=f"bench-{tag}-{{i}}")
    Enrollment.objects.get_or_create(user=user, course=course)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    cookies.append(f"{{settings.SESSION_COOKIE_NAME}}={{session.session_key}}")
print(json.dumps(cookies))
"""
    env = {"EUREKA_MODEL_BASE_URL": stack.worker_url}
    return list(json.loads(in_django(stack.data_dir, code, env)))
