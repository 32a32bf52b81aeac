"""A course uploaded as a .zip archive: its files, read defensively.

The archive holds a course folder (course.yaml and steps/*.md), at its root or inside one
top-level folder. Everything else in it is ignored, but every entry must still be safe: an
archive with an absolute path, a `..` component, a symbolic link, too many entries, an entry
over MAX_FILE_BYTES or more than MAX_TOTAL_BYTES in all is refused as a whole, before anything
is imported. Sizes are checked twice: from the headers, and while decompressing, since a zip
bomb's headers lie.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from typing import IO

from courses import fileformat

MAX_FILE_BYTES = fileformat.MAX_FILE_BYTES
MAX_TOTAL_BYTES = fileformat.MAX_COURSE_BYTES
# Step files plus course.yaml, with room for the folders and the odd README of a real folder.
MAX_ENTRIES = fileformat.MAX_FILES + 100
# What the upload itself may weigh: compressing never makes a fair course larger.
MAX_ARCHIVE_BYTES = MAX_TOTAL_BYTES + 1_000_000
_CHUNK = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveRefused(Exception):
    """The upload is not a safe course archive; the message says why, naming the entry."""


def read_course_archive(upload: IO[bytes], *, size: int | None = None) -> dict[str, str]:
    """The course files in the archive, keyed by their path inside the course folder."""
    if size is not None and size > MAX_ARCHIVE_BYTES:
        raise ArchiveRefused(
            f"The archive is {_mb(size)}; uploads are limited to {_mb(MAX_ARCHIVE_BYTES)}."
        )
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        raise ArchiveRefused(f"This is not a .zip archive ({error}).") from error
    with archive:
        entries = archive.infolist()
        _check_entries(entries)
        root = _course_root([e.filename for e in entries if not e.is_dir()])
        files: dict[str, str] = {}
        budget = MAX_TOTAL_BYTES
        for entry in entries:
            relative = _relative(entry.filename, root)
            if entry.is_dir() or relative is None or not _is_course_file(relative):
                continue
            data = _read(archive, entry, budget)
            budget -= len(data)
            try:
                files[relative] = data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ArchiveRefused(
                    f"{entry.filename} is not UTF-8 text (byte {error.start})."
                ) from error
    if fileformat.COURSE_FILE not in files:
        raise ArchiveRefused(
            f"The archive has no {fileformat.COURSE_FILE}, at its root or in one top-level folder."
        )
    return files


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    if len(entries) > MAX_ENTRIES:
        raise ArchiveRefused(
            f"The archive holds {len(entries)} entries; at most {MAX_ENTRIES} are accepted."
        )
    seen: set[str] = set()
    total = 0
    for entry in entries:
        name = entry.filename
        if name in seen:
            raise ArchiveRefused(f"{name} appears twice in the archive.")
        seen.add(name)
        _check_name(name)
        mode = entry.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveRefused(f"{name} is a symbolic link; links are refused.")
        if entry.flag_bits & 0x1:
            raise ArchiveRefused(f"{name} is encrypted; upload an unencrypted archive.")
        if entry.file_size > MAX_FILE_BYTES:
            raise ArchiveRefused(
                f"{name} is {_mb(entry.file_size)}; each file may be at most {_mb(MAX_FILE_BYTES)}."
            )
        total += entry.file_size
        if total > MAX_TOTAL_BYTES:
            raise ArchiveRefused(
                f"The archive expands to more than {_mb(MAX_TOTAL_BYTES)}; refused."
            )


def _check_name(name: str) -> None:
    if any(ord(ch) < 32 for ch in name):
        raise ArchiveRefused(f"{name!r} has a control character in its name.")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise ArchiveRefused(f"{name} is an absolute path; only relative paths are accepted.")
    if "\\" in name:
        raise ArchiveRefused(f"{name} uses backslashes; paths in a .zip use '/'.")
    if ".." in name.split("/"):
        raise ArchiveRefused(f"{name} climbs out of the folder with '..'; refused.")


def _course_root(names: list[str]) -> str:
    """'' when course.yaml is at the root, else the one top-level folder that holds it."""
    if fileformat.COURSE_FILE in names:
        return ""
    tops = {name.split("/", 1)[0] for name in names if "/" in name}
    candidates = sorted(t for t in tops if f"{t}/{fileformat.COURSE_FILE}" in names)
    if len(candidates) > 1:
        raise ArchiveRefused(
            "The archive holds several courses "
            f"({', '.join(candidates)}); upload one course at a time."
        )
    return f"{candidates[0]}/" if candidates else ""


def _relative(name: str, root: str) -> str | None:
    if not name.startswith(root):
        return None
    return name[len(root) :]


def _is_course_file(relative: str) -> bool:
    if relative == fileformat.COURSE_FILE:
        return True
    folder, _, file = relative.partition("/")
    return folder == fileformat.STEPS_DIR and "/" not in file and file.endswith(".md")


def _read(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: int) -> bytes:
    """The entry's bytes, stopping as soon as they pass either limit, whatever the header said."""
    limit = min(MAX_FILE_BYTES, budget)
    chunks: list[bytes] = []
    read = 0
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(_CHUNK):
                read += len(chunk)
                if read > limit:
                    raise ArchiveRefused(
                        f"{entry.filename} expands to more than its header says "
                        f"(over {_mb(limit)}); refused."
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise ArchiveRefused(f"{entry.filename} cannot be read: {error}.") from error
    return b"".join(chunks)


def _mb(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{size / 1000:.0f} kB"
