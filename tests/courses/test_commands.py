"""validate_course, import_course and export_course, as an author runs them."""

import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from courses.models import Course, CourseVersion, Exercise, Step, StepRevision
from tests.conftest import SAMPLE_COURSE


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "sample-ramp"
    shutil.copytree(SAMPLE_COURSE, target)
    return target


def test_validate_accepts_the_sample_ramp(folder):
    out, _ = run("validate_course", str(folder))
    assert "is a valid ramp: 2 chapters, 3 steps, 6 exercises, 3 probes" in out


def test_validate_lists_every_problem_with_file_and_line_and_fails(folder):
    step = folder / "steps" / "counting-characters.md"
    step.write_text(
        step.read_text()
        .replace("    answer: 3\n", "", 1)
        .replace(
            "title: Counting characters",
            "title: Counting characters\nrequires:\n  - bigram-model",
            1,
        )
    )
    err = StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("validate_course", str(folder), stderr=err)
    lines = err.getvalue().splitlines()
    assert any(
        line.startswith(f"{step}:1: step 'counting-characters' requires concept 'bigram-model'")
        for line in lines
    )
    assert any(
        f"{step}:" in line and "count-l" in line and "needs an answer" in line for line in lines
    )


def test_validate_reports_a_missing_folder(tmp_path):
    with pytest.raises(CommandError):
        call_command("validate_course", str(tmp_path / "nope"), stderr=StringIO())


def test_import_is_idempotent_and_updates_in_place(db, folder):
    out, _ = run("import_course", str(folder))
    assert "Created sample-ramp: 3 step(s) changed" in out
    ids = set(Step.objects.values_list("pk", flat=True))
    out, _ = run("import_course", str(folder))
    assert "Updated sample-ramp: 0 step(s) changed" in out
    assert StepRevision.objects.count() == 3
    step = folder / "steps" / "probabilities.md"
    step.write_text(
        step.read_text().replace(
            "title: From counts to probabilities", "title: Counts to probabilities"
        )
    )
    out, _ = run("import_course", str(folder))
    assert "1 step(s) changed" in out
    assert set(Step.objects.values_list("pk", flat=True)) == ids  # same rows, updated by slug
    assert Step.objects.get(slug="probabilities").title == "Counts to probabilities"
    assert StepRevision.objects.filter(step__slug="probabilities").count() == 2


def test_malformed_course_never_half_imports(db, folder):
    run("import_course", str(folder))
    before = (
        Step.objects.count(),
        Exercise.objects.count(),
        list(Step.objects.values_list("title", flat=True)),
    )
    (folder / "steps" / "probabilities.md").write_text(
        (folder / "steps" / "probabilities.md")
        .read_text()
        .replace("title: From", "title: Changed", 1)
    )
    bad = folder / "steps" / "bigram-sampling.md"
    bad.write_text(bad.read_text().replace("difficulty: 3", "difficulty: 9", 1))
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_course", str(folder), stderr=err)
    assert "bigram-sampling.md:" in err.getvalue() and "difficulty" in err.getvalue()
    after = (
        Step.objects.count(),
        Exercise.objects.count(),
        list(Step.objects.values_list("title", flat=True)),
    )
    assert after == before


def test_ramp_errors_stop_an_import_too(db, folder):
    course_file = folder / "course.yaml"
    course_file.write_text(
        course_file.read_text().replace(
            "      - counting-characters\n      - probabilities\n",
            "      - probabilities\n      - counting-characters\n",
        )
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_course", str(folder), stderr=err)
    assert "requires concept 'character-counts'" in err.getvalue()
    assert not Course.objects.exists()


def test_import_then_export_gives_byte_identical_files(db, folder, tmp_path):
    run("import_course", str(folder), "--publish")
    assert CourseVersion.objects.get().number == 1
    out_dir = tmp_path / "exported"
    out, _ = run("export_course", "sample-ramp", str(out_dir))
    assert "Wrote 4 file(s)" in out
    for path in folder.rglob("*"):
        if path.is_file():
            assert (out_dir / path.relative_to(folder)).read_bytes() == path.read_bytes(), path


def test_export_of_an_unknown_course_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="No course with slug 'nope'"):
        call_command("export_course", "nope", str(tmp_path))
