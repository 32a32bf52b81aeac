"""Backing up and restoring the database with PostgreSQL's own tools, in either mode.

A backup is `pg_dump`'s custom format (compressed; `pg_restore --list FILE` shows what is in it)
of the whole database: schema, data, sequences, the pgvector extension. It holds no owners or
grants, so it restores under any role: the embedded server's, a DATABASE_URL server's, or one
into the other (moving from `make run` to docker compose is a backup and a restore).

A restore replaces everything in the database's `public` schema with the backup, in one
transaction: if anything fails, nothing changed. Run `manage.py migrate` after restoring a
backup from an older release.

The tools are the ones pgserver ships (PostgreSQL 16, the embedded server's own version); they
also serve servers of version 16 and older. The connection is Django's own, so a backup goes to
exactly the database the app uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.db import connections

# libpq connection keywords (PostgreSQL 16) a Django database entry may carry, through its
# OPTIONS; everything else Django passes to psycopg (adapters, cursor classes) is not for libpq.
LIBPQ_KEYWORDS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "passfile",
        "options",
        "application_name",
        "connect_timeout",
        "client_encoding",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "sslmode",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "gssencmode",
        "channel_binding",
        "require_auth",
        "target_session_attrs",
        "service",
    }
)
# Before the backup's own SQL, in the same transaction: the schema is emptied, so tables that
# the backup does not have (from a newer release) do not survive the restore.
RESTORE_PRELUDE = b"""SET client_min_messages = warning;
DROP SCHEMA IF EXISTS public CASCADE;
CREATE SCHEMA public;
"""


PASSWORD_VARIABLE = "PGPASSWORD"  # noqa: S105 (the variable's name, where libpq reads it)


class BackupError(Exception):
    """pg_dump, pg_restore or psql failed; the message carries what they said."""


def tool(name: str) -> str:
    """The path of one of PostgreSQL's client programs, from the pgserver package."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pgserver._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / name)


def connection_target(alias: str = "default") -> tuple[str, dict[str, str]]:
    """A libpq connection string for the Django database `alias`, and the environment for the
    tools (the password goes there, not on a command line other users can read). For the
    embedded server this starts it, or joins it, first."""
    from psycopg.conninfo import make_conninfo

    params: dict[str, Any] = connections[alias].get_connection_params()
    password = params.pop("password", None)
    kept = {
        key: str(value)
        for key, value in params.items()
        if key in LIBPQ_KEYWORDS and value not in (None, "")
    }
    # The same environment as the app's own connection (libpq reads PGSSLROOTCERT and the
    # like from it), plus the password Django has, if any.
    variables = {**os.environ, "PGAPPNAME": "eureka-backup"}
    if password:
        variables[PASSWORD_VARIABLE] = str(password)
    return make_conninfo("", **kept), variables


def backup(out: Path | IO[bytes], *, alias: str = "default") -> None:
    """Write a backup of the database to the file `out` (written in full, then moved into
    place, so a failed backup never leaves a file that looks whole) or to a binary stream."""
    conninfo, env = connection_target(alias)
    command = [tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges"]
    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        try:
            _run([*command, f"--file={partial}", f"--dbname={conninfo}"], env=env)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    else:
        _run([*command, f"--dbname={conninfo}"], env=env, stdout=out)


def contents(source: Path) -> list[str]:
    """The entries of a backup file (`pg_restore --list`); raises BackupError when the file is
    not a backup."""
    listing = _run([tool("pg_restore"), "--list", str(source)], capture=True)
    return [line for line in listing.splitlines() if line and not line.startswith(";")]


def restore(source: Path | IO[bytes], *, alias: str = "default") -> None:
    """Replace the database's contents with the backup in `source` (a file or a binary
    stream), all in one transaction."""
    with _as_file(source) as path:
        contents(path)  # refuse a file that is not a backup before touching the database
        conninfo, env = connection_target(alias)
        # Django's own connection may hold the tables' locks in an open transaction; the
        # restore would wait for it forever.
        connections[alias].close()
        # Errors go to files, not pipes: a full pipe nobody reads would stall the copy below.
        with tempfile.TemporaryFile() as sql_err, tempfile.TemporaryFile() as psql_err:
            sql = subprocess.Popen(  # noqa: S603 (our own tool and arguments)
                [tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(path)],
                stdout=subprocess.PIPE,
                stderr=sql_err,
            )
            psql = subprocess.Popen(  # noqa: S603
                [
                    tool("psql"),
                    "--no-psqlrc",
                    "--quiet",
                    "--single-transaction",
                    "--set=ON_ERROR_STOP=1",
                    f"--dbname={conninfo}",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=psql_err,
                env=env,
            )
            assert sql.stdout is not None and psql.stdin is not None  # noqa: S101 (PIPE above)
            try:
                psql.stdin.write(RESTORE_PRELUDE)
                shutil.copyfileobj(sql.stdout, psql.stdin)
            except BrokenPipeError:
                pass  # psql stopped at an error: it says which below
            finally:
                psql.stdin.close()
                sql.stdout.close()
            sql.wait()
            psql.wait()
            if sql.returncode != 0:
                raise BackupError(f"pg_restore failed: {_text(sql_err)}")
            if psql.returncode != 0:
                raise BackupError(f"the restore failed and changed nothing: {_text(psql_err)}")


def _text(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode(errors="replace").strip()


@contextmanager
def _as_file(source: Path | IO[bytes]) -> Iterator[Path]:
    if isinstance(source, Path):
        if not source.is_file():
            raise BackupError(f"{source} is not a file")
        yield source
        return
    with tempfile.NamedTemporaryFile(prefix="eureka-restore-", suffix=".dump") as spooled:
        shutil.copyfileobj(source, spooled)
        spooled.flush()
        yield Path(spooled.name)


def _run(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    stdout: IO[bytes] | None = None,
    capture: bool = False,
) -> str:
    result = subprocess.run(  # noqa: S603 (our own tool and arguments)
        command,
        env=env,
        stdout=subprocess.PIPE if capture else stdout,
        stderr=subprocess.PIPE,
        check=False,
    )
    if result.returncode != 0:
        name = Path(command[0]).name
        raise BackupError(f"{name} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode() if capture else ""
