"""The embedded PostgreSQL (with pgvector) that the default mode runs on.

The `pgserver` package bundles PostgreSQL 16 and pgvector. Its data lives in `<data dir>/pg` and
survives restarts. pgserver counts the processes that hold a handle on a data directory and stops
the server when the last of them exits, so `make run`, a `manage.py shell` beside it and a test run
share one server, and Ctrl-C on the last one stops it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "eureka"

_lock = threading.Lock()
_servers: dict[Path, EmbeddedPostgres] = {}


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
            return server
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
        info = handle.get_postmaster_info()
        server = EmbeddedPostgres(
            pgdata=pgdata,
            socket_dir=str(info.socket_dir),
            port=int(info.port or 5432),
            pid=handle.get_pid(),
        )
        _create_database(handle)
        _servers[pgdata] = server
        logger.info("embedded PostgreSQL ready in %s (pid %s)", pgdata, server.pid)
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
