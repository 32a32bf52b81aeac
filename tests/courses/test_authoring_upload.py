"""Uploading a course as a .zip: a good archive imports; a hostile or broken one is refused
with a clear message, and nothing at all is imported."""

import io
import stat
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from courses import archive, selectors
from courses.models import StepRevision


def url(name, ramp, **kwargs):
    return reverse(name, kwargs={"slug": ramp.slug, **kwargs})


def zipped(entries, *, symlinks=None, method=zipfile.ZIP_DEFLATED):
    """A .zip upload of {name: text or bytes}, plus symbolic links {name: target}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, content in entries.items():
            zf.writestr(name, content.encode() if isinstance(content, str) else content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return SimpleUploadedFile("course.zip", buffer.getvalue(), content_type="application/zip")


@pytest.fixture
def upload(author_client, ramp):
    def post(file):
        return author_client.post(url("author_upload", ramp), {"archive": file})

    return post


@pytest.fixture
def unchanged(ramp):
    """Asserts, after the test, that the course and its history are as imported."""
    before = selectors.course_spec(ramp)
    revisions = StepRevision.objects.count()
    yield
    ramp.refresh_from_db()
    assert selectors.course_spec(ramp) == before
    assert StepRevision.objects.count() == revisions


def refusal(response):
    assert response.status_code == 422
    html = response.content.decode()
    assert "Nothing was imported" in html
    return html


def test_a_good_archive_imports_the_course(upload, ramp, ramp_files, author):
    files = dict(ramp_files)
    files["course.yaml"] = files["course.yaml"].replace(
        "title: 'Sample ramp: from counting to bigrams'", "title: Counting to bigrams"
    )
    files["steps/probabilities.md"] = files["steps/probabilities.md"].replace(
        "makes them comparable", "makes them comparable, always"
    )
    response = upload(zipped(files))
    assert response.status_code == 302
    assert response["Location"] == url("author_course", ramp)
    ramp.refresh_from_db()
    assert ramp.title == "Counting to bigrams"
    assert "comparable, always" in selectors.course_spec(ramp).step("probabilities").body
    revision = StepRevision.objects.filter(step__slug="probabilities").first()
    assert (revision.number, revision.author) == (2, author)


def test_an_archive_of_the_course_folder_itself_is_accepted(upload, ramp, ramp_files):
    files = {f"sample-ramp/{path}": text for path, text in ramp_files.items()}
    files["sample-ramp/README.txt"] = "ignored"
    files["sample-ramp/steps/"] = ""
    response = upload(zipped(files))
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../evil.md", "../evil.md climbs out of the folder with &#x27;..&#x27;; refused."),
        ("steps/../../evil.md", "climbs out of the folder"),
        ("/etc/passwd", "/etc/passwd is an absolute path; only relative paths are accepted."),
        ("C:/Windows/evil.md", "is an absolute path"),
        ("steps\\..\\evil.md", "uses backslashes"),
    ],
)
def test_a_path_leaving_the_folder_is_refused(upload, ramp_files, unchanged, name, message):
    html = refusal(upload(zipped({**ramp_files, name: "x"})))
    assert message in html


def test_a_symbolic_link_is_refused(upload, ramp_files, unchanged):
    files = dict(ramp_files)
    del files["steps/probabilities.md"]
    response = upload(zipped(files, symlinks={"steps/probabilities.md": "/etc/passwd"}))
    assert "steps/probabilities.md is a symbolic link; links are refused." in refusal(response)


def test_a_file_over_one_megabyte_is_refused(upload, ramp_files, unchanged):
    files = {**ramp_files, "steps/probabilities.md": "x" * 1_000_001}
    html = refusal(upload(zipped(files)))
    assert "steps/probabilities.md is 1.0 MB; each file may be at most 1.0 MB." in html


def test_an_archive_over_ten_megabytes_uncompressed_is_refused(upload, ramp_files, unchanged):
    padding = {f"padding/{i}.bin": b"\0" * 999_999 for i in range(11)}
    html = refusal(upload(zipped({**ramp_files, **padding})))
    assert "The archive expands to more than 10.0 MB; refused." in html


def test_a_zip_bomb_whose_headers_lie_is_refused(upload, ramp_files, unchanged):
    data = bytearray(zipped({"course.yaml": "a" * 5_000_000}).read())
    # Claim 100 bytes in the local header and in the central directory.
    struct.pack_into("<I", data, 22, 100)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)
    bomb = SimpleUploadedFile("bomb.zip", bytes(data), content_type="application/zip")
    html = refusal(upload(bomb))
    assert "course.yaml cannot be read" in html or "course.yaml expands" in html


def test_reading_stops_once_an_entry_passes_the_limit_whatever_its_header(monkeypatch):
    # Should zipfile ever trust a header less than it does now, our own count still stops it.
    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 10)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("course.yaml", "a" * 5)
    with zipfile.ZipFile(buffer) as zf:
        entry = zf.infolist()[0]
        entry.file_size = 5
        assert archive._read(zf, entry, 10) == b"aaaaa"
        with pytest.raises(archive.ArchiveRefused, match="expands to more than its header"):
            archive._read(zf, entry, 3)


def test_too_many_files_are_refused(upload, ramp_files, unchanged):
    many = {f"extra/{i}.txt": "" for i in range(archive.MAX_ENTRIES)}
    html = refusal(upload(zipped({**ramp_files, **many})))
    assert f"at most {archive.MAX_ENTRIES} are accepted" in html


def test_an_upload_that_is_not_a_zip_is_refused(upload, unchanged):
    fake = SimpleUploadedFile("course.zip", b"%PDF-1.4 not a zip", content_type="application/zip")
    assert "This is not a .zip archive" in refusal(upload(fake))


def test_an_archive_without_a_course_file_is_refused(upload, unchanged):
    html = refusal(upload(zipped({"notes.md": "hello"})))
    assert "The archive has no course.yaml" in html


def test_a_step_that_is_not_utf8_is_refused(upload, ramp_files, unchanged):
    files = {**ramp_files, "steps/probabilities.md": "café".encode("latin-1")}
    assert "steps/probabilities.md is not UTF-8 text" in refusal(upload(zipped(files)))


def test_an_archive_of_another_course_is_refused(upload, ramp_files, unchanged):
    files = dict(ramp_files)
    files["course.yaml"] = files["course.yaml"].replace("slug: sample-ramp", "slug: llm101n", 1)
    html = refusal(upload(zipped(files)))
    assert "course.yaml:1: the archive is the course &#x27;llm101n&#x27;" in html


def test_a_malformed_course_names_file_and_line_and_imports_nothing(upload, ramp_files, unchanged):
    files = dict(ramp_files)
    files["steps/probabilities.md"] = files["steps/probabilities.md"].replace(
        "difficulty: 2", "difficulty: seven", 1
    )
    files["steps/bigram-sampling.md"] = files["steps/bigram-sampling.md"].replace(
        "title: Sampling", "title: [unclosed", 1
    )
    html = refusal(upload(zipped(files)))
    assert "the course has 2 problems" in html
    line = next(
        i
        for i, text in enumerate(files["steps/probabilities.md"].splitlines(), 1)
        if "difficulty: seven" in text
    )
    assert f"steps/probabilities.md:{line}: difficulty must be a whole number" in html
    assert "steps/bigram-sampling.md:3: not valid YAML" in html


def test_a_course_with_ramp_problems_imports_nothing(upload, ramp_files, unchanged):
    files = dict(ramp_files)
    files["steps/counting-characters.md"] = files["steps/counting-characters.md"].replace(
        "teaches:\n  - character-counts\n",
        "teaches:\n  - character-counts\nrequires:\n  - bigram-model\n",
    )
    html = refusal(upload(zipped(files)))
    assert "steps/counting-characters.md:1: step &#x27;counting-characters&#x27; requires" in html


def test_an_archive_larger_than_any_fair_course_is_refused_before_it_is_opened(upload, unchanged):
    big = SimpleUploadedFile("big.zip", b"\0" * (archive.MAX_ARCHIVE_BYTES + 1))
    assert "uploads are limited to 11.0 MB" in refusal(upload(big))


def test_the_upload_page_explains_the_format(author_client, ramp):
    html = author_client.get(url("author_upload", ramp)).content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert "<code>sample-ramp</code>" in html
    assert '<label for="id_archive">Course archive (.zip)</label>' in html
