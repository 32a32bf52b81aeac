import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from eureka import backups


class Command(BaseCommand):
    help = (
        "Back up the database (the embedded server or DATABASE_URL) to a file in pg_dump's "
        "custom format; '-' writes it to standard output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="the backup file to write, or - for standard output")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the Django database")

    def handle(self, *args: Any, out: str, database: str, **options: Any) -> None:
        try:
            if out == "-":
                sys.stdout.flush()
                backups.backup(sys.stdout.buffer, alias=database)
                return
            path = Path(out)
            backups.backup(path, alias=database)
        except backups.BackupError as error:
            raise CommandError(str(error)) from error
        size = path.stat().st_size
        self.stderr.write(f"Backed up the database to {path} ({size:,} bytes).")
