"""A course folder imported with `import_course` is read as defensively as an uploaded archive
(tests/courses/test_authoring_upload.py): nothing outside the folder is read, nothing special is
opened, nothing oversized is taken, and a refusal names the file and imports nothing."""

import os
import shutil

import pytest
from django.core.management import CommandError, call_command

from courses import fileformat
from courses.models import Course
from tests.conftest import SAMPLE_COURSE


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "sample-ramp"
    shutil.copytree(SAMPLE_COURSE, target)
    return target


@pytest.fixture
def outside(tmp_path):
    """A file outside the course folder that a hostile folder would like read."""
    secret = tmp_path / "secret.md"
    secret.write_text((SAMPLE_COURSE / "steps" / "probabilities.md").read_text())
    return secret


def refused_with(folder, capsys) -> str:
    """What the command printed when it refused the folder, having imported nothing."""
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_course", str(folder))
    assert not Course.objects.exists()
    return capsys.readouterr().err


def test_a_step_file_linking_outside_the_folder_is_refused(db, folder, outside, capsys):
    step = folder / "steps" / "probabilities.md"
    step.unlink()
    step.symlink_to(outside)
    assert "steps/probabilities.md points outside the course folder; refused" in refused_with(
        folder, capsys
    )


def test_a_linked_course_file_is_refused(db, folder, tmp_path, capsys):
    real = tmp_path / "elsewhere.yaml"
    (folder / "course.yaml").rename(real)
    (folder / "course.yaml").symlink_to(real)
    assert "course.yaml points outside the course folder; refused" in refused_with(folder, capsys)


def test_a_steps_folder_linking_elsewhere_is_refused(db, folder, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    (folder / "steps").rename(elsewhere)
    (folder / "steps").symlink_to(elsewhere)
    err = refused_with(folder, capsys)
    assert "steps/counting-characters.md points outside the course folder; refused" in err


def test_a_pipe_or_folder_named_like_a_step_is_refused_not_read(db, folder, capsys):
    # Reading a named pipe would wait forever for a writer.
    (folder / "steps" / "probabilities.md").unlink()
    os.mkfifo(folder / "steps" / "probabilities.md")
    (folder / "steps" / "bigram-sampling.md").unlink()
    (folder / "steps" / "bigram-sampling.md").mkdir()
    err = refused_with(folder, capsys)
    assert "steps/probabilities.md is not a regular file; refused" in err
    assert "steps/bigram-sampling.md is not a regular file; refused" in err


def test_a_step_file_over_one_megabyte_is_refused(db, folder, capsys):
    (folder / "steps" / "probabilities.md").write_text("x" * (fileformat.MAX_FILE_BYTES + 1))
    assert "steps/probabilities.md is larger than 1000 kB; refused" in refused_with(folder, capsys)


def test_a_course_larger_than_the_limit_in_all_is_refused(db, folder, monkeypatch, capsys):
    size = sum(len(p.read_bytes()) for p in folder.rglob("*") if p.is_file())
    monkeypatch.setattr(fileformat, "MAX_COURSE_BYTES", size - 1)
    assert "the course's files add up to over" in refused_with(folder, capsys)


def test_the_same_folder_without_the_traps_imports(db, folder):
    call_command("import_course", str(folder))
    assert Course.objects.get().slug == "sample-ramp"
