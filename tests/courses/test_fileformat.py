"""Reading course files: every problem with file and line, nothing guessed."""

from courses import fileformat


def read(files):
    return fileformat.read_texts(files)


def test_yaml_syntax_error_is_located(sample_files):
    files = dict(sample_files)
    files["course.yaml"] = files["course.yaml"].replace("title: 'Sample", "title: [Sample", 1)
    course, problems = read(files)
    assert course is None
    assert str(problems[0]).startswith("course.yaml:")
    assert "not valid YAML" in str(problems[0])


def test_front_matter_error_reports_the_line_in_the_step_file(sample_files):
    files = dict(sample_files)
    text = files["steps/probabilities.md"]
    files["steps/probabilities.md"] = text.replace("difficulty: 2", "difficulty: seven", 1)
    _, problems = read(files)
    (problem,) = problems
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "difficulty: 2" in row)
    expected = "difficulty must be a whole number from 1 to 5, not 'seven'"
    assert str(problem) == f"steps/probabilities.md:{line}: {expected}"


def test_unknown_keys_and_kinds_are_named(sample_files):
    files = dict(sample_files)
    files["steps/bigram-sampling.md"] = (
        files["steps/bigram-sampling.md"]
        .replace("kind: numeric", "kind: essay", 1)
        .replace("title: Sampling", "titel: x\ntitle: Sampling", 1)
    )
    _, problems = read(files)
    text = [str(p) for p in problems]
    assert any(
        "unknown key 'titel'" in t and t.startswith("steps/bigram-sampling.md:2:") for t in text
    )
    assert any("kind must be one of" in t and "'essay'" in t for t in text)


def test_missing_and_unlisted_step_files_are_reported(sample_files):
    files = dict(sample_files)
    files["steps/orphan.md"] = "---\ntitle: Orphan\n---\n"
    del files["steps/probabilities.md"]
    _, problems = read(files)
    text = [str(p) for p in problems]
    assert any(
        "steps/probabilities.md is missing" in t and t.startswith("course.yaml:") for t in text
    )
    assert any("steps/orphan.md is not listed" in t for t in text)


def test_step_without_front_matter_and_bad_slugs(sample_files):
    files = dict(sample_files)
    files["steps/probabilities.md"] = "# no front matter\n"
    files["course.yaml"] = files["course.yaml"].replace("slug: counting\n", "slug: Counting!\n", 1)
    _, problems = read(files)
    text = [str(p) for p in problems]
    assert any("starts with front matter" in t for t in text)
    assert any("'Counting!' is not a slug" in t for t in text)


def test_folder_reader_refuses_symlinks_and_huge_files(tmp_path, sample_files):
    for path, text in sample_files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    secret = tmp_path.parent / "secret.md"
    secret.write_text("---\ntitle: secret\n---\n")
    (tmp_path / "steps" / "probabilities.md").unlink()
    (tmp_path / "steps" / "probabilities.md").symlink_to(secret)
    (tmp_path / "steps" / "bigram-sampling.md").write_text("x" * (fileformat.MAX_FILE_BYTES + 1))
    course, problems, _ = fileformat.read_folder(tmp_path)
    text = [str(p) for p in problems]
    assert course is None
    assert any("points outside the course folder" in t for t in text)
    assert any("larger than" in t for t in text)


def test_writer_output_reads_back_identically(sample_files):
    course, _ = read(sample_files)
    written = fileformat.write_course(course)
    again, problems = read(written)
    assert not problems
    assert again == course
    assert fileformat.write_course(again) == written
