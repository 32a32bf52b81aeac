from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from courses import services
from courses.models import Course


class Command(BaseCommand):
    help = "Write a course's working copy as a course folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("path", type=Path, help="the folder to write (created if missing)")

    def handle(self, *args: Any, slug: str, path: Path, **options: Any) -> None:
        course = Course.objects.filter(slug=slug).first()
        if course is None:
            raise CommandError(f"No course with slug {slug!r}.")
        files = services.course_export(course)
        if path.exists() and not path.is_dir():
            raise CommandError(f"{path} exists and is not a folder.")
        stale = sorted(p for p in (path / "steps").glob("*.md") if f"steps/{p.name}" not in files)
        for relative, text in files.items():
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for old in stale:
            old.unlink()
        self.stdout.write(f"Wrote {len(files)} file(s) of {slug} to {path}.")
