"""Backups in both modes, through the commands an operator runs (`manage.py backup_db` and
`restore_db`, which `make backup` and `make restore` call), and the embedded data surviving a
restart and an unclean stop. Every server here is a real PostgreSQL of the test's own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from eureka import embedded
from tests.faults.conftest import (
    REPO,
    adopting_orphans,
    child_env,
    kill_postgres,
    manage,
    pg_ctl,
    postmaster_pid,
    reap,
    server_folder,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SAMPLE_COURSE = REPO / "tests" / "fixtures" / "courses" / "sample-ramp"
TITLE = "Sample ramp: from counting to bigrams"


def course_titles(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT title FROM courses_course ORDER BY slug").fetchall()
    return [row[0] for row in rows]


def vandalise(url: str) -> None:
    """Changes an operator would want undone: a renamed course and deleted progress data."""
    with psycopg.connect(url) as connection:
        connection.execute("UPDATE courses_course SET title = 'Overwritten by mistake'")
        connection.execute("TRUNCATE courses_courseversion CASCADE")


def versions(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM courses_courseversion").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def embedded_site() -> Iterator[tuple[Path, str]]:
    """An embedded-mode data directory, migrated, with the sample course published; yields it
    and its database URL. This process holds the server between the commands."""
    with server_folder() as data, adopting_orphans():
        env = embedded_env(data)
        server = embedded.ensure_running(data)
        try:
            manage("migrate", "--noinput", "-v0", env=env)
            manage("import_course", "--publish", str(SAMPLE_COURSE), env=env)
            yield data, server.url
        finally:
            pid = postmaster_pid(data / "pg")
            embedded.release(data)
            if pid is not None:
                reap([pid])


def embedded_env(data: Path) -> dict[str, str]:
    return child_env(DJANGO_SETTINGS_MODULE="eureka.settings.local", EUREKA_DATA_DIR=str(data))


def test_an_embedded_backup_restores_the_data_it_was_taken_with(embedded_site, tmp_path):
    data, url = embedded_site
    env = embedded_env(data)
    backup = tmp_path / "backups" / "eureka.dump"
    assert course_titles(url) == [TITLE] and versions(url) == 1

    out = manage("backup_db", str(backup), env=env)
    assert backup.is_file() and f"Backed up the database to {backup}" in out
    vandalise(url)
    assert course_titles(url) == ["Overwritten by mistake"] and versions(url) == 0

    manage("restore_db", "--noinput", str(backup), env=env)
    assert course_titles(url) == [TITLE] and versions(url) == 1


def test_a_restore_asks_first_and_refuses_what_is_not_a_backup(embedded_site, tmp_path):
    data, url = embedded_site
    env = embedded_env(data)
    backup = tmp_path / "eureka.dump"
    manage("backup_db", str(backup), env=env)
    vandalise(url)

    declined = subprocess.run(
        [sys.executable, "manage.py", "restore_db", str(backup)],
        cwd=REPO,
        env=env,
        input="no\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert declined.returncode != 0 and "nothing changed" in declined.stderr
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("not a backup")
    refused = subprocess.run(
        [sys.executable, "manage.py", "restore_db", "--noinput", str(not_a_backup)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "pg_restore failed" in refused.stderr
    assert course_titles(url) == ["Overwritten by mistake"], "neither touched the database"

    manage("restore_db", "--noinput", str(backup), env=env)
    assert course_titles(url) == [TITLE]


def test_a_database_url_server_restores_an_embedded_backup_and_backs_up_through_a_pipe(
    embedded_site, postgres_server, tmp_path
):
    """Moving from `make run` to a server (as docker compose runs one), then that server's own
    backup and restore through standard output and input, as `docker compose exec` would."""
    data, _ = embedded_site
    moved = tmp_path / "from-embedded.dump"
    manage("backup_db", str(moved), env=embedded_env(data))
    env = child_env(
        DJANGO_SETTINGS_MODULE="eureka.settings.local",
        DATABASE_URL=postgres_server.url,
        EUREKA_DATA_DIR=str(tmp_path / "unused"),  # DATABASE_URL wins: nothing starts here
    )

    manage("restore_db", "--noinput", str(moved), env=env)
    assert course_titles(postgres_server.url) == [TITLE]
    assert not (tmp_path / "unused" / "pg").exists()

    piped = tmp_path / "piped.dump"
    with open(piped, "wb") as out:
        subprocess.run(
            [sys.executable, "manage.py", "backup_db", "-"],
            cwd=REPO,
            env=env,
            stdout=out,
            check=True,
            timeout=120,
        )
    assert piped.read_bytes()[:5] == b"PGDMP", "pg_dump's custom format on standard output"
    vandalise(postgres_server.url)
    with open(piped, "rb") as source:
        subprocess.run(
            [sys.executable, "manage.py", "restore_db", "--noinput", "-"],
            cwd=REPO,
            env=env,
            stdin=source,
            check=True,
            timeout=120,
        )
    assert course_titles(postgres_server.url) == [TITLE]
    assert versions(postgres_server.url) == 1


def test_embedded_data_survives_a_restart_and_an_unclean_stop():
    with server_folder() as data, adopting_orphans():
        pgdata = data / "pg"
        try:
            server = embedded.ensure_running(data)
            with psycopg.connect(server.url, autocommit=True) as connection:
                connection.execute("CREATE TABLE notes (text text)")
                connection.execute("INSERT INTO notes VALUES ('before a clean stop')")

            # A clean stop behind the app's back; the next connection starts it again.
            first = server.pid
            pg_ctl(pgdata, "stop", "-m", "fast", "-w")
            assert first is not None
            reap([first])
            server = embedded.ensure_running(data)
            assert server.pid != first
            with psycopg.connect(server.url, autocommit=True) as connection:
                connection.execute("INSERT INTO notes VALUES ('before the kill')")
                # A transaction still open when the server dies is lost, and only it.
                in_flight = psycopg.connect(server.url)
                in_flight.execute("INSERT INTO notes VALUES ('never committed')")

            assert server.pid is not None
            kill_postgres(server.pid)
            in_flight.close()
            log_before = (pgdata / "log").read_text()
            server = embedded.ensure_running(data)
            with psycopg.connect(server.url, autocommit=True) as connection:
                notes = [row[0] for row in connection.execute("SELECT text FROM notes")]
            recovery = (pgdata / "log").read_text()[len(log_before) :]
        finally:
            pid = postmaster_pid(pgdata)
            embedded.release(data)
            if pid is not None:
                reap([pid])
        assert not (pgdata / "postmaster.pid").exists(), "released: the server is stopped"
    assert notes == ["before a clean stop", "before the kill"]
    # It was an unclean stop, and PostgreSQL's recovery brought the data back.
    assert "not properly shut down; automatic recovery in progress" in recovery
