"""Real processes for the fault tests, each started here and ended by its PID: a Redis server of
our own (never the shared one), PostgreSQL servers, app and worker processes.

Where PID 1 does not reap orphans (some containers, this suite's CI), a PostgreSQL server that
was killed would stay a zombie, and both pgserver and PostgreSQL take a zombie for a live server.
`adopting_orphans()` makes the test process their reaper, as an init would be.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
import redis

REPO = Path(__file__).resolve().parents[2]
PR_SET_CHILD_SUBREAPER = 36


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "the condition"):
    """Poll until `predicate()` is truthy and return it; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def end_process(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 15):
    """End a process we started, by its PID: `sig` first, SIGKILL if it does not go."""
    if process.poll() is not None:
        return
    os.kill(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process of the project: nothing inherited that configures
    Django, Eureka, its database or Redis; the project importable."""
    skip = ("DJANGO_", "EUREKA_", "MODELWORKER_", "CELERY_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), EUREKA_LOG_LEVEL="WARNING")
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    """Run `manage.py ARGS` as its own process; fail the test with its output if it fails."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def suite_database_url() -> str:
    """A DATABASE_URL for child processes that names the database this test sees (the embedded
    server's socket, or the server the suite was pointed at)."""
    from django.db import connection

    params = connection.get_connection_params()
    user = quote(str(params.get("user") or "postgres"), safe="")
    password = params.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    query = f"host={quote(str(params.get('host', '')), safe='')}"
    if params.get("port"):
        query += f"&port={params['port']}"
    return f"postgres://{auth}@/{quote(str(params['dbname']), safe='')}?{query}"


# ---------------------------------------------------------------------------------------------
# Redis


@dataclass
class RedisServer:
    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (again) on its port: an empty server, nothing saved to disk."""
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"redis-server exited:\n{self.log.read_text()}")
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, timeout=20, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            end_process(self.process)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own on a free port, ended by its PID."""
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# PostgreSQL


@contextlib.contextmanager
def adopting_orphans() -> Iterator[None]:
    """While inside, orphaned descendants of this process (a PostgreSQL server that pg_ctl
    started, its children once it is killed) become its children, so they can be reaped."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("needs Linux's child subreaper (prctl)")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def reap(pids: list[int], *, timeout: float = 10) -> None:
    """Wait for processes to exit and reap those that are our children."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
            except ChildProcessError:  # not ours: wait for whoever reaps it
                if not psutil.pid_exists(pid):
                    break
                with contextlib.suppress(psutil.Error):
                    if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                        break
            if time.monotonic() > deadline:
                pytest.fail(f"process {pid} did not exit")
            time.sleep(0.05)


def postmaster_pid(pgdata: Path) -> int | None:
    """The server's PID from postmaster.pid, when the file is there."""
    with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    return None


def kill_postgres(pid: int) -> None:
    """An unclean stop: SIGKILL to the server's main process (no shutdown checkpoint, open
    transactions cut off); its other processes notice and exit on their own."""
    children = [child.pid for child in psutil.Process(pid).children()]
    os.kill(pid, signal.SIGKILL)
    reap([pid, *children])


def pg_tool(name: str) -> str:
    """One of the PostgreSQL programs the pgserver package ships."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / name)


def server_user() -> str | None:
    """PostgreSQL refuses to run as root; pgserver then runs it as the `pgserver` user."""
    return "pgserver" if os.geteuid() == 0 else None


def pg_ctl(pgdata: Path, *args: str) -> None:
    """pg_ctl on an embedded data directory, as pgserver runs it: the server it starts writes
    to pgdata/log, and its output goes to a file, never a pipe (the server would hold the pipe
    open, and reading it to the end would never end)."""
    import tempfile

    with tempfile.TemporaryFile() as out:
        result = subprocess.run(
            [pg_tool("pg_ctl"), "-D", str(pgdata), "-l", str(pgdata / "log"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=60,
            user=server_user(),
            check=False,
        )
        if result.returncode != 0:
            out.seek(0)
            pytest.fail(f"pg_ctl {' '.join(args)} failed:\n{out.read().decode(errors='replace')}")


@contextlib.contextmanager
def server_folder(prefix: str = "eureka-fault-") -> Iterator[Path]:
    """A folder for a PostgreSQL data directory, removed afterwards. Not under pytest's own
    temporary folders: PostgreSQL runs as another user when the tests run as root, and pytest
    makes its folders private to the user running it (again, whenever another run starts)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class PostgresServer:
    """A PostgreSQL server on TCP with password log-in, as DATABASE_URL would name one."""

    pgdata: Path
    port: int
    password: str = "s3cret-but-only-for-this-test"
    process: subprocess.Popen | None = field(default=None, repr=False)

    def database_url(self, database: str = "eureka") -> str:
        return f"postgres://eureka:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.database_url()


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL 16 with pgvector (pgserver's build) on a free loopback port with an
    `eureka` superuser and database; stopped by its PID."""
    import shutil

    import psycopg

    user = server_user()
    folder = server_folder("eureka-pg-server-")
    home = folder.__enter__()
    pwfile = home / "pw"
    server = PostgresServer(home / "data", free_port())
    pwfile.write_text(server.password)
    if user is not None:
        shutil.chown(home, user)
        shutil.chown(pwfile, user)
    subprocess.run(
        [
            pg_tool("initdb"),
            "-D",
            str(server.pgdata),
            "-U",
            "eureka",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=utf8",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        user=user,
    )
    log = open(home / "server.log", "ab")  # noqa: SIM115 (open while the server runs)
    server.process = subprocess.Popen(
        [
            pg_tool("postgres"),
            "-D",
            str(server.pgdata),
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-k",
            str(home),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        user=user,
    )
    try:

        def accepts() -> bool:
            try:
                with psycopg.connect(server.database_url("postgres"), autocommit=True):
                    return True
            except psycopg.OperationalError:
                return False

        wait_for(accepts, timeout=30, what="the PostgreSQL server")
        with psycopg.connect(server.database_url("postgres"), autocommit=True) as connection:
            connection.execute("CREATE DATABASE eureka")
        yield server
    finally:
        # SIGINT is PostgreSQL's fast shutdown.
        end_process(server.process, sig=signal.SIGINT, timeout=30)
        log.close()
        folder.__exit__(None, None, None)
