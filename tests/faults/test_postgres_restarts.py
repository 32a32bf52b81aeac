"""PostgreSQL restarts under a running app: the app (uvicorn serving Eureka, a process of its
own, on the embedded database) answers its next request without being restarted, after a clean
restart of the server and after the server was killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.faults.conftest import (
    REPO,
    adopting_orphans,
    child_env,
    end_process,
    free_port,
    kill_postgres,
    manage,
    pg_ctl,
    postmaster_pid,
    reap,
    server_folder,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SAMPLE_COURSE = REPO / "tests" / "fixtures" / "courses" / "sample-ramp"
TITLE = "Sample ramp: from counting to bigrams"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_the_app_answers_after_postgresql_restarts_and_after_it_is_killed(tmp_path: Path):
    port = free_port()
    page = f"http://127.0.0.1:{port}/courses/sample-ramp/"
    log = tmp_path / "app.log"
    postmaster_pid_seen: list[int] = []
    with server_folder() as data, adopting_orphans():
        pgdata = data / "pg"
        env = child_env(
            DJANGO_SETTINGS_MODULE="eureka.settings.local",
            EUREKA_DATA_DIR=str(data),
            # Persistent connections, as in production: each request checks its connection
            # first (CONN_HEALTH_CHECKS) and opens a new one when the server went away.
            DATABASE_CONN_MAX_AGE="60",
        )
        manage("migrate", "--noinput", "-v0", env=env)
        manage("import_course", "--publish", str(SAMPLE_COURSE), env=env)
        with open(log, "wb") as out:
            app = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "eureka.asgi:application",
                    "--host=127.0.0.1",
                    f"--port={port}",
                    "--lifespan=off",
                    "--log-level=warning",
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:

            def app_answers() -> tuple[int, str] | None:
                if app.poll() is not None:
                    pytest.fail(f"the app exited:\n{log.read_text()}")
                try:
                    return get(page)
                except OSError:
                    return None

            status, body = wait_for(app_answers, timeout=60, what="the app")
            assert status == 200 and TITLE in body
            first = postmaster_pid(pgdata)
            assert first is not None
            postmaster_pid_seen.append(first)

            # 1. A clean restart (an operator's `pg_ctl restart`, a package upgrade).
            pg_ctl(pgdata, "restart", "-m", "fast", "-w")
            reap([first])
            second = postmaster_pid(pgdata)
            assert second is not None and second != first
            postmaster_pid_seen.append(second)
            status, body = get(page)
            assert status == 200 and TITLE in body, body[-2000:]

            # 2. The server is killed and nobody starts it: the app starts it again itself.
            kill_postgres(second)
            status, body = get(page)
            assert status == 200 and TITLE in body, body[-2000:]
            third = postmaster_pid(pgdata)
            assert third is not None and third not in (first, second)
            postmaster_pid_seen.append(third)
            status, body = get(f"http://127.0.0.1:{port}/healthz")
            assert status == 200 and '"database": {"ok": true' in body, body
        finally:
            end_process(app, sig=signal.SIGINT, timeout=30)
            # The app was the server's last user: it stopped the server on its way out.
            last = postmaster_pid(pgdata)
            if last is not None:
                pg_ctl(pgdata, "stop", "-m", "immediate", "-w")
            # Reaped here: the test process adopted the servers (see adopting_orphans).
            reap([pid for pid in {last, *postmaster_pid_seen[-1:]} if pid is not None])
        assert last is None, "the embedded server outlived the app"
        log_text = log.read_text()
        assert "Internal Server Error" not in log_text and "Traceback" not in log_text, log_text
