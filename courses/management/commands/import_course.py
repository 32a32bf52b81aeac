from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from courses import fileformat, services
from courses.management.commands.validate_course import _located


class Command(BaseCommand):
    help = "Create or update a course from its folder (by slug; running it twice changes nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the course folder (it holds course.yaml)")
        parser.add_argument("--publish", action="store_true", help="publish it afterwards")

    def handle(self, *args: Any, path: Path, publish: bool, **options: Any) -> None:
        spec, problems, files = fileformat.read_folder(path)
        if problems or spec is None:
            self._fail(path, problems)
        try:
            result = services.course_import(files=files)
        except services.CourseInvalid as error:
            self._fail(path, error.problems)
        verb = "Created" if result.created else "Updated"
        changed = len(result.changed_steps)
        self.stdout.write(f"{verb} {result.course.slug}: {changed} step(s) changed.")
        if publish:
            version = services.course_publish(course=result.course, user=None)
            self.stdout.write(f"Published {result.course.slug} version {version.number}.")

    def _fail(self, path: Path, problems: list[Any]) -> None:
        for problem in problems:
            self.stderr.write(_located(path, problem))
        raise CommandError(f"{len(problems)} problem(s) in {path}; nothing was imported")
