from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from courses import fileformat
from courses.validation import validate


class Command(BaseCommand):
    help = "Check a course folder: every problem with its file and line; exits non-zero on any."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the course folder (it holds course.yaml)")

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        spec, problems, _ = fileformat.read_folder(path)
        if spec is not None and not problems:
            problems = validate(spec)
        if problems:
            for problem in problems:
                self.stderr.write(f"{_located(path, problem)}")
            raise CommandError(f"{len(problems)} problem(s) in {path}")
        if spec is None:  # read_folder returns no course only together with problems
            raise CommandError(f"{path} could not be read")
        steps = spec.steps()
        self.stdout.write(
            f"{path}: {spec.title!r} is a valid ramp: {len(spec.chapters)} chapters, "
            f"{len(steps)} steps, {sum(len(s.exercises) for s in steps)} exercises, "
            f"{sum(len(s.probes) for s in steps)} probes."
        )


def _located(folder: Path, problem: object) -> str:
    source = getattr(problem, "source", None)
    message = getattr(problem, "message", str(problem))
    if source is None:
        return message
    return f"{folder / source.file}:{source.line}: {message}"
