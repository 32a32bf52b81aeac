import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from courses import selectors
from courses.models import Course
from tutor import sft


class Command(BaseCommand):
    help = (
        "Write supervised fine-tuning conversations (nanochat's custom JSONL format) from a "
        "course's latest published version and its human TAs' answers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("course", help="the course slug")
        parser.add_argument("--out", type=Path, required=True, help="the .jsonl file to write")

    def handle(self, *args: Any, course: str, out: Path, **options: Any) -> None:
        found = Course.objects.filter(slug=course).first()
        if found is None:
            raise CommandError(f"No course with slug {course!r}.")
        version = selectors.latest_version(found)
        if version is None:
            raise CommandError(f"{course} has no published version: publish it first.")
        spec = selectors.version_spec(version)
        written = skipped = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for conversation in sft.conversations(spec):
                if not sft.valid(conversation):
                    skipped += 1
                    continue
                handle.write(json.dumps(conversation, ensure_ascii=False) + "\n")
                written += 1
        self.stdout.write(
            f"Wrote {written} conversations of {course} v{version.number} to {out}"
            + (f" ({skipped} malformed, skipped)." if skipped else ".")
        )
