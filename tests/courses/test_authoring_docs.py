"""docs/authoring.md shows the sample course exactly as it is, and that course is valid."""

import re
from pathlib import Path

from courses import fileformat
from courses.validation import validate
from tests.conftest import SAMPLE_COURSE

DOC = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text()


def test_the_worked_example_in_the_docs_is_the_sample_course_verbatim():
    shown = {
        "course.yaml": re.search(r"### `course.yaml`\n\n```yaml\n(.*?)```\n", DOC, re.S).group(1)
    }
    for path, text in re.findall(
        r"### `(steps/[a-z-]+\.md)`\n\n````markdown\n(.*?)````\n", DOC, re.S
    ):
        shown[path] = text
    actual = {
        p.relative_to(SAMPLE_COURSE).as_posix(): p.read_text() for p in SAMPLE_COURSE.rglob("*.*")
    }
    assert shown == actual


def test_the_worked_example_is_a_valid_ramp():
    course, problems, _ = fileformat.read_folder(SAMPLE_COURSE)
    assert problems == []
    assert validate(course) == []
