"""The embedded PostgreSQL (with pgvector) that the default mode runs on.

The `pgserver` package bundles PostgreSQL 16 and pgvector. Its data lives in `<data dir>/pg` and
survives restarts. pgserver counts the processes that hold a handle on a data directory and stops
the server when the last of them exits, so `make run`, a `manage.py shell` beside it and a test run
share one server, and Ctrl-C on the last one stops it.

PostgreSQL's own crash recovery keeps every committed transaction through an unclean stop (a
killed server, a power cut). When the server a process joined is found gone (it crashed or was
killed), the next connection starts it again: the app recovers without a restart.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "eureka"

_lock = threading.Lock()
_servers: dict[Path, EmbeddedPostgres] = {}
_handles: dict[Path, Any] = {}  # pgserver's handle per data directory
# After an unclean stop, a new server refuses to start until the old one's last processes have
# exited and released its shared memory (they notice within moments): retry for this long.
RESTART_SECONDS = 15.0


def default_data_dir() -> Path:
    """`EUREKA_DATA_DIR`, or `.data/` in the project root."""
    configured = os.environ.get("EUREKA_DATA_DIR", "").strip()
    return Path(configured).resolve() if configured else BASE_DIR / ".data"


@dataclass(frozen=True)
class EmbeddedPostgres:
    pgdata: Path
    socket_dir: str
    port: int
    pid: int | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{DATABASE_NAME}?host={self.socket_dir}&port={self.port}"


def ensure_running(data_dir: Path | None = None) -> EmbeddedPostgres:
    """Start (or join) the embedded server for `data_dir` and make sure the database exists.

    Idempotent and thread-safe; the first call in a process costs about a second when the server
    is already up, a few seconds on a fresh data directory (initdb).
    """
    pgdata = ((data_dir or default_data_dir()) / "pg").resolve()
    with _lock:
        server = _servers.get(pgdata)
        if server is not None:
            if is_running(server.pid):
                return server
            return _restart(pgdata, _handles[pgdata])
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI) and falls back to /tmp.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver  # imported lazily: it starts nothing on import, but is not light

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = pgserver.get_server(pgdata, cleanup_mode="stop")
        except subprocess.CalledProcessError as error:
            log = pgdata / "log"
            detail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"The embedded PostgreSQL in {pgdata} did not start.\n{detail}"
            ) from error
        _handles[pgdata] = handle
        server = _describe(pgdata, handle)
        _create_database(handle)
        _servers[pgdata] = server
        logger.info("embedded PostgreSQL ready in %s (pid %s)", pgdata, server.pid)
        return server


def is_running(pid: int | None) -> bool:
    """Whether the server process is alive (a killed one that was not yet reaped is not)."""
    import psutil

    if pid is None:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _describe(pgdata: Path, handle: Any) -> EmbeddedPostgres:
    info = handle.get_postmaster_info()
    return EmbeddedPostgres(
        pgdata=pgdata,
        socket_dir=str(info.socket_dir),
        port=int(info.port or 5432),
        pid=handle.get_pid(),
    )


def _restart(pgdata: Path, handle: Any) -> EmbeddedPostgres:
    """Start the server this process had joined, after it stopped behind our back. Another
    process may be doing the same: pgserver's lock across processes lets one start it and the
    others find it running. The caller holds `_lock`."""
    logger.warning("the embedded PostgreSQL in %s is gone; starting it again", pgdata)
    deadline = time.monotonic() + RESTART_SECONDS
    while True:
        try:
            # pgserver offers no public call to start a server it already has a handle on; this
            # is what its constructor does, under the same lock (pgserver is pinned).
            with type(handle)._lock:
                handle.ensure_postgres_running()
            break
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            if time.monotonic() > deadline:
                log = pgdata / "log"
                detail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(
                    f"The embedded PostgreSQL in {pgdata} did not start again.\n{detail}"
                ) from error
            time.sleep(0.5)
    server = _describe(pgdata, handle)
    _servers[pgdata] = server
    logger.warning("embedded PostgreSQL running again in %s (pid %s)", pgdata, server.pid)
    return server


def _create_database(handle: object) -> None:
    import psycopg

    uri = handle.get_uri("postgres")  # type: ignore[attr-defined]
    with psycopg.connect(uri, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def release(data_dir: Path | None = None) -> None:
    """Let go of the server for `data_dir` in this process: the last process to let go stops
    it (as at exit). The next `ensure_running` joins or starts it again."""
    pgdata = ((data_dir or default_data_dir()) / "pg").resolve()
    with _lock:
        handle = _handles.pop(pgdata, None)
        _servers.pop(pgdata, None)
        if handle is not None:
            handle.cleanup()
            # pgserver keeps its handle while other processes hold the server; forget it, so
            # that joining again counts this process in again.
            type(handle)._instances.pop(pgdata, None)
