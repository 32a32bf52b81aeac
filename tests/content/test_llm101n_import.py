"""LLM101n goes through the platform's own import and publish path, and comes back unchanged."""

from __future__ import annotations

from django.core.management import call_command

from courses import fileformat, selectors, services
from courses.models import Course
from tests.content.course import COURSE_DIR, course


def test_import_and_publish_llm101n(db, capsys):
    call_command("import_course", str(COURSE_DIR), "--publish")
    assert "Published llm101n version 1" in capsys.readouterr().out
    stored = Course.objects.get(slug="llm101n")
    assert selectors.course_spec(stored) == course()


def test_exported_files_read_back_as_the_same_course(db):
    call_command("import_course", str(COURSE_DIR))
    files = services.course_export(Course.objects.get(slug="llm101n"))
    spec, problems = fileformat.read_texts(files)
    assert problems == []
    assert spec == course()
