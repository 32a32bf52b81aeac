"""Courses shipped in content/ come in at start-up without ever overwriting browser edits."""

import shutil

import pytest

from courses.bundled import sync_bundled_courses
from courses.models import Course, CourseVersion, Step
from tests.conftest import SAMPLE_COURSE


@pytest.fixture
def content(tmp_path):
    shutil.copytree(SAMPLE_COURSE, tmp_path / "sample-ramp")
    (tmp_path / "not-a-course").mkdir()
    return tmp_path


def test_first_start_imports_and_publishes_then_nothing_changes(db, content):
    assert sync_bundled_courses(content) == ["sample-ramp: imported, published version 1"]
    assert sync_bundled_courses(content) == ["sample-ramp: up to date, version 1"]
    assert CourseVersion.objects.count() == 1
    assert Course.objects.get().is_published


def test_changed_files_are_imported_and_published(db, content):
    sync_bundled_courses(content)
    step = content / "sample-ramp" / "steps" / "probabilities.md"
    step.write_text(step.read_text().replace("title: From counts", "title: Now from counts"))
    assert sync_bundled_courses(content) == ["sample-ramp: updated, published version 2"]
    assert Step.objects.get(slug="probabilities").title.startswith("Now from counts")


def test_browser_edits_are_never_overwritten_by_changed_files(db, content):
    sync_bundled_courses(content)
    edited = Step.objects.get(slug="probabilities")
    edited.title = "Edited in the browser"
    edited.save()
    assert sync_bundled_courses(content) == [
        "sample-ramp: up to date, version 1 (browser edits not yet published)"
    ]
    step = content / "sample-ramp" / "steps" / "probabilities.md"
    step.write_text(step.read_text().replace("title: From counts", "title: Now from counts"))
    (message,) = sync_bundled_courses(content)
    assert "not overwriting" in message
    assert Step.objects.get(slug="probabilities").title == "Edited in the browser"


def test_a_broken_bundled_course_is_reported_not_imported(db, content):
    course_file = content / "sample-ramp" / "course.yaml"
    course_file.write_text(course_file.read_text().replace("chapters:", "chapterz:"))
    (message,) = sync_bundled_courses(content)
    assert "problem(s), not imported" in message
    assert not Course.objects.exists()
