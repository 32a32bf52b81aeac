import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from eureka import backups


class Command(BaseCommand):
    help = (
        "Replace the database's contents (the embedded server or DATABASE_URL) with a backup "
        "made by backup_db, in one transaction; '-' reads it from standard input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="the backup file, or - for standard input")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the Django database")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="do not ask for confirmation",
        )

    def handle(
        self, *args: Any, source: str, database: str, interactive: bool, **options: Any
    ) -> None:
        target = _describe(database)
        if interactive:
            if source == "-":
                raise CommandError(
                    "The backup comes on standard input, so there is no way to ask: confirm "
                    "with --noinput."
                )
            try:
                answer = input(
                    f"This replaces everything in {target} with {source}.\n"
                    "Type 'yes' to continue, anything else to stop: "
                )
            except EOFError:
                answer = ""
            if answer.strip() != "yes":
                raise CommandError("Restore cancelled; nothing changed.")
        try:
            backups.restore(sys.stdin.buffer if source == "-" else Path(source), alias=database)
        except backups.BackupError as error:
            raise CommandError(str(error)) from error
        self.stderr.write(
            f"Restored {target} from {source}. "
            "If the backup comes from an older release, run `manage.py migrate` now."
        )


def _describe(alias: str) -> str:
    entry = connections[alias].settings_dict
    if "EMBEDDED_DATA_DIR" in entry:
        return f"the embedded database {entry['NAME']!r} in {entry['EMBEDDED_DATA_DIR']}"
    where = entry.get("HOST") or entry.get("OPTIONS", {}).get("host") or "localhost"
    return f"the database {entry['NAME']!r} at {where}"
