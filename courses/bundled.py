"""The courses that ship in `content/`, brought into the database when Eureka starts.

A course is imported and published the first time. Later, changed files are imported and
published again, unless the course was also edited in the browser since its last import: then
nothing is overwritten and the start-up message says so (the instructor's work is never lost).
"""

from __future__ import annotations

from pathlib import Path

from courses import fileformat, selectors, services
from courses.models import Course, SourceFile
from courses.spec import CourseSpec


def sync_bundled_courses(content_dir: Path) -> list[str]:
    """Import and publish each course folder under content_dir; returns what happened, per line."""
    messages = []
    for folder in sorted(
        p for p in content_dir.iterdir() if (p / fileformat.COURSE_FILE).is_file()
    ):
        messages.append(_sync(folder))
    return messages


def _sync(folder: Path) -> str:
    spec, problems, files = fileformat.read_folder(folder)
    if spec is not None and not problems:
        spec, problems = services.check_files(files)
    if problems or spec is None:
        return f"{folder.name}: {len(problems)} problem(s), not imported (see validate_course)"
    course = Course.objects.filter(slug=spec.slug).first()
    if course is not None:
        stored = dict(SourceFile.objects.filter(course=course).values_list("path", "text"))
        if stored == files:
            return f"{spec.slug}: up to date" + _publish_if_changed(course)
        imported, _ = fileformat.read_texts(stored) if stored else (None, [])
        if imported is not None and imported != selectors.course_spec(course):
            return (
                f"{spec.slug}: the files changed and the course was also edited in the browser; "
                "not overwriting either (export_course, merge, import_course)"
            )
    result = services.course_import(files=files)
    verb = "imported" if result.created else "updated"
    return f"{spec.slug}: {verb}" + _publish_if_changed(result.course)


def _publish_if_changed(course: Course) -> str:
    latest = selectors.latest_version(course)
    if latest is not None and CourseSpec.from_json(latest.spec) == selectors.course_spec(course):
        return f", version {latest.number}"
    if latest is not None and _edited_in_browser(course):
        return f", version {latest.number} (browser edits not yet published)"
    version = services.course_publish(course=course, user=None)
    return f", published version {version.number}"


def _edited_in_browser(course: Course) -> bool:
    stored = dict(SourceFile.objects.filter(course=course).values_list("path", "text"))
    imported, _ = fileformat.read_texts(stored) if stored else (None, [])
    return imported is not None and imported != selectors.course_spec(course)
