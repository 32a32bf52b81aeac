"""The authoring file format: a course folder kept in git.

    <course>/course.yaml          slug, title, summary, prior knowledge, concepts, chapters
    <course>/steps/<step>.md      one step: YAML front matter, then the Markdown body

`read_course` turns a folder into a CourseSpec plus the problems found, each with file and line;
`write_course` turns a CourseSpec into the files' text, in the canonical form (reading that form
and writing it again gives the same bytes). docs/authoring.md describes the format for authors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from courses.spec import (
    KINDS,
    ChapterSpec,
    ConceptSpec,
    CourseSpec,
    ExerciseSpec,
    OptionSpec,
    Problem,
    Source,
    StepSpec,
)

COURSE_FILE = "course.yaml"
STEPS_DIR = "steps"
MAX_FILE_BYTES = 1_000_000
MAX_FILES = 2_000
# A whole course (a folder or an uploaded archive, uncompressed): LLM101n is well under 1 MB.
MAX_COURSE_BYTES = 10_000_000
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.DOTALL)


def step_path(slug: str) -> str:
    return f"{STEPS_DIR}/{slug}.md"


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Doc:
    """A YAML document as Python data, with the line of every value by its path."""

    file: str
    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def at(self, *path: Any) -> Source:
        while path and path not in self.lines:
            path = path[:-1]
        return Source(self.file, self.lines.get(path, 1))


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, message: str, source: Source) -> None:
        self.problems.append(Problem(message, source))

    def load_yaml(self, text: str, file: str, first_line: int = 1) -> _Doc | None:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = first_line + (mark.line if mark else 0)
            reason = getattr(error, "problem", None) or str(error)
            self.problem(f"not valid YAML: {reason}", Source(file, line))
            return None
        doc = _Doc(file, None)
        if node is not None:
            doc.data = self._construct(node, (), doc, first_line)
        return doc

    def _construct(self, node: yaml.Node, path: tuple[Any, ...], doc: _Doc, first: int) -> Any:
        doc.lines[path] = first + node.start_mark.line
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = key_node.value
                if key in result:
                    self.problem(
                        f"'{key}' appears twice", Source(doc.file, first + key_node.start_mark.line)
                    )
                result[key] = self._construct(value_node, (*path, key), doc, first)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._construct(v, (*path, i), doc, first) for i, v in enumerate(node.value)]
        return yaml.SafeLoader("").construct_object(node)

    # Typed field access: each getter records a problem and returns a safe default.

    def mapping(self, doc: _Doc, value: Any, path: tuple[Any, ...], what: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.problem(f"{what} must be a mapping of keys to values", doc.at(*path))
        return {}

    def keys(
        self, doc: _Doc, data: dict[str, Any], path: tuple[Any, ...], allowed: set[str], what: str
    ) -> None:
        for key in data:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.problem(f"unknown key '{key}' in {what} (known: {known})", doc.at(*path, key))

    def text(
        self,
        doc: _Doc,
        data: dict[str, Any],
        path: tuple[Any, ...],
        key: str,
        *,
        required: bool = False,
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(f"'{key}' is required", doc.at(*path))
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(f"'{key}' must be text", doc.at(*path, key))
            return ""
        return str(value)

    def slug(self, doc: _Doc, value: Any, path: tuple[Any, ...], what: str) -> str:
        if not isinstance(value, str) or not SLUG.match(value):
            self.problem(
                f"{what} {value!r} is not a slug (lower-case letters, digits and '-', at most 80)",
                doc.at(*path),
            )
            return str(value) if value is not None else ""
        return value

    def slugs(self, doc: _Doc, data: dict[str, Any], path: tuple[Any, ...], key: str) -> list[str]:
        value = data.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(f"'{key}' must be a list of concept slugs", doc.at(*path, key))
            return []
        return [self.slug(doc, v, (*path, key, i), "concept") for i, v in enumerate(value)]

    def texts(self, doc: _Doc, data: dict[str, Any], path: tuple[Any, ...], key: str) -> list[str]:
        value = data.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"'{key}' must be a list of texts", doc.at(*path, key))
            return []
        return list(value)

    def number(
        self, doc: _Doc, data: dict[str, Any], path: tuple[Any, ...], key: str
    ) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(f"'{key}' must be a number", doc.at(*path, key))
            return None
        return value

    # The course file

    def course(self, doc: _Doc) -> CourseSpec:
        data = self.mapping(doc, doc.data, (), "course.yaml")
        self.keys(
            doc,
            data,
            (),
            {"slug", "title", "summary", "prior_knowledge", "concepts", "chapters"},
            "course.yaml",
        )
        course = CourseSpec(
            slug=self.slug(doc, data.get("slug"), ("slug",), "course slug"),
            title=self.text(doc, data, (), "title", required=True),
            summary=self.text(doc, data, (), "summary"),
            source=doc.at(),
        )
        for key, prior in (("prior_knowledge", True), ("concepts", False)):
            items = data.get(key) or []
            if not isinstance(items, list):
                self.problem(f"'{key}' must be a list", doc.at(key))
                continue
            for i, item in enumerate(items):
                course.concepts.append(self.concept(doc, item, (key, i), prior))
        chapters = data.get("chapters") or []
        if not isinstance(chapters, list):
            self.problem("'chapters' must be a list", doc.at("chapters"))
            chapters = []
        for i, item in enumerate(chapters):
            path = ("chapters", i)
            chapter_data = self.mapping(doc, item, path, "a chapter")
            self.keys(doc, chapter_data, path, {"slug", "title", "steps"}, "a chapter")
            chapter = ChapterSpec(
                slug=self.slug(doc, chapter_data.get("slug"), (*path, "slug"), "chapter slug"),
                title=self.text(doc, chapter_data, path, "title", required=True),
                source=doc.at(*path),
            )
            steps = chapter_data.get("steps") or []
            if not isinstance(steps, list):
                self.problem(
                    "a chapter's 'steps' must be a list of step slugs", doc.at(*path, "steps")
                )
                steps = []
            for j, step_slug in enumerate(steps):
                slug = self.slug(doc, step_slug, (*path, "steps", j), "step")
                chapter.steps.append(
                    StepSpec(slug=slug, title="", source=doc.at(*path, "steps", j))
                )
            course.chapters.append(chapter)
        return course

    def concept(self, doc: _Doc, item: Any, path: tuple[Any, ...], prior: bool) -> ConceptSpec:
        data = self.mapping(doc, item, path, "a concept")
        allowed = {"slug", "name", "description"} | (set() if prior else {"requires"})
        self.keys(doc, data, path, allowed, "a prior-knowledge concept" if prior else "a concept")
        return ConceptSpec(
            slug=self.slug(doc, data.get("slug"), (*path, "slug"), "concept slug"),
            name=self.text(doc, data, path, "name", required=True),
            description=self.text(doc, data, path, "description"),
            requires=self.slugs(doc, data, path, "requires"),
            prior_knowledge=prior,
            source=doc.at(*path),
        )

    # A step file

    def step(self, text: str, file: str, slug: str) -> StepSpec | None:
        match = FRONT_MATTER.match(text)
        if match is None:
            self.problem(
                "a step file starts with front matter between two '---' lines", Source(file, 1)
            )
            return None
        doc = self.load_yaml(match.group(1) or "", file, first_line=2)
        if doc is None:
            return None
        data = self.mapping(doc, doc.data if doc.data is not None else {}, (), "the front matter")
        self.keys(
            doc,
            data,
            (),
            {"title", "teaches", "requires", "exercises", "probes"},
            "a step's front matter",
        )
        body = text[match.end() :].strip("\n")
        step = StepSpec(
            slug=slug,
            title=self.text(doc, data, (), "title", required=True),
            body=body + "\n" if body else "",
            teaches=self.slugs(doc, data, (), "teaches"),
            requires=self.slugs(doc, data, (), "requires"),
            source=Source(file, 1),
        )
        for key in ("exercises", "probes"):
            items = data.get(key) or []
            if not isinstance(items, list):
                self.problem(f"'{key}' must be a list", doc.at(key))
                continue
            target = step.exercises if key == "exercises" else step.probes
            for i, item in enumerate(items):
                target.append(self.exercise(doc, item, (key, i), probe=key == "probes"))
        return step

    def exercise(self, doc: _Doc, item: Any, path: tuple[Any, ...], *, probe: bool) -> ExerciseSpec:
        what = "a probe" if probe else "an exercise"
        data = self.mapping(doc, item, path, what)
        allowed = {"slug", "kind", "prompt", "difficulty", "concepts", "hints", "solution"}
        kind = data.get("kind")
        allowed |= {
            "multiple_choice": {"options"},
            "numeric": {"answer", "tolerance", "unit"},
            "short_answer": {"accepted", "rubric"},
        }.get(kind if isinstance(kind, str) else "", set())
        self.keys(doc, data, path, allowed, f"{what} of kind {kind}")
        if kind not in KINDS:
            self.problem(
                f"kind must be one of {', '.join(KINDS)}, not {kind!r}", doc.at(*path, "kind")
            )
        difficulty = data.get("difficulty", 3)
        if (
            isinstance(difficulty, bool)
            or not isinstance(difficulty, int)
            or not 1 <= difficulty <= 5
        ):
            self.problem(
                f"difficulty must be a whole number from 1 to 5, not {difficulty!r}",
                doc.at(*path, "difficulty"),
            )
            difficulty = 3
        exercise = ExerciseSpec(
            slug=self.slug(doc, data.get("slug"), (*path, "slug"), f"{what} slug"),
            kind=str(kind),
            prompt=self.text(doc, data, path, "prompt", required=True),
            difficulty=difficulty,
            concepts=self.slugs(doc, data, path, "concepts"),
            hints=self.texts(doc, data, path, "hints"),
            solution=self.text(doc, data, path, "solution"),
            tolerance=self.number(doc, data, path, "tolerance") or 0.0,
            answer=self.number(doc, data, path, "answer"),
            unit=self.text(doc, data, path, "unit"),
            accepted=self.texts(doc, data, path, "accepted"),
            rubric=self.text(doc, data, path, "rubric"),
            source=doc.at(*path),
        )
        options = data.get("options") or []
        if not isinstance(options, list):
            self.problem("'options' must be a list", doc.at(*path, "options"))
            options = []
        for i, option in enumerate(options):
            option_path = (*path, "options", i)
            option_data = self.mapping(doc, option, option_path, "an option")
            self.keys(
                doc, option_data, option_path, {"text", "correct", "misconception"}, "an option"
            )
            correct = option_data.get("correct", False)
            if not isinstance(correct, bool):
                self.problem("'correct' must be true or false", doc.at(*option_path, "correct"))
                correct = False
            exercise.options.append(
                OptionSpec(
                    text=self.text(doc, option_data, option_path, "text", required=True),
                    correct=correct,
                    misconception=self.text(doc, option_data, option_path, "misconception"),
                )
            )
        return exercise


def _read_text(root: Path, relative: str, reader: _Reader, cited: Source) -> str | None:
    path = root / relative
    if not path.exists():
        reader.problem(f"{relative} is missing", cited)
        return None
    if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
        reader.problem(f"{relative} points outside the course folder; refused", cited)
        return None
    if not path.is_file():
        # A folder, or a device or pipe that reading would hang on.
        reader.problem(f"{relative} is not a regular file; refused", cited)
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        reader.problem(f"{relative} is larger than {MAX_FILE_BYTES // 1000} kB; refused", cited)
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        reader.problem(f"{relative} is not UTF-8 text (byte {error.start})", cited)
        return None


def read_texts(files: dict[str, str]) -> tuple[CourseSpec | None, list[Problem]]:
    """A course from file texts keyed by relative path (a folder, an upload, stored sources)."""
    reader = _Reader()
    course_text = files.get(COURSE_FILE)
    if course_text is None:
        return None, [Problem(f"{COURSE_FILE} is missing", Source(COURSE_FILE, 1))]
    doc = reader.load_yaml(course_text, COURSE_FILE)
    if doc is None:
        return None, reader.problems
    course = reader.course(doc)
    listed = set()
    for chapter in course.chapters:
        steps = []
        for placeholder in chapter.steps:
            relative = step_path(placeholder.slug)
            listed.add(relative)
            text = files.get(relative)
            if text is None:
                reader.problem(
                    f"{relative} is missing", placeholder.source or Source(COURSE_FILE, 1)
                )
                continue
            step = reader.step(text, relative, placeholder.slug)
            if step is not None:
                steps.append(step)
        chapter.steps = steps
    for relative in sorted(files):
        if relative.startswith(f"{STEPS_DIR}/") and relative not in listed:
            reader.problem(
                f"{relative} is not listed in any chapter of {COURSE_FILE}", Source(relative, 1)
            )
    return course, reader.problems


def read_folder(folder: Path) -> tuple[CourseSpec | None, list[Problem], dict[str, str]]:
    """Read a course folder: the course (None if unreadable), its problems, and the texts."""
    reader = _Reader()
    if not folder.is_dir():
        return None, [Problem(f"{folder} is not a folder")], {}
    files: dict[str, str] = {}
    candidates = [COURSE_FILE]
    steps_dir = folder / STEPS_DIR
    if steps_dir.is_dir():
        names = sorted(p.name for p in steps_dir.iterdir() if p.suffix == ".md")
        if len(names) > MAX_FILES:
            return None, [Problem(f"more than {MAX_FILES} step files; refused")], {}
        candidates += [f"{STEPS_DIR}/{name}" for name in names]
    total = 0
    for relative in candidates:
        text = _read_text(folder, relative, reader, Source(relative, 1))
        if text is not None:
            files[relative] = text
            total += len(text.encode("utf-8"))
            if total > MAX_COURSE_BYTES:
                limit = f"{MAX_COURSE_BYTES / 1_000_000:g} MB"
                return None, [Problem(f"the course's files add up to over {limit}; refused")], {}
    if reader.problems:
        return None, reader.problems, files
    course, problems = read_texts(files)
    return course, problems, files


# ---------------------------------------------------------------------------------------------
# Writing


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Lists are indented under their key, as people write them.
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _concept_data(concept: ConceptSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"slug": concept.slug, "name": concept.name}
    if concept.description:
        data["description"] = concept.description
    if concept.requires and not concept.prior_knowledge:
        data["requires"] = list(concept.requires)
    return data


def _exercise_data(exercise: ExerciseSpec) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": exercise.slug,
        "kind": exercise.kind,
        "difficulty": exercise.difficulty,
    }
    if exercise.concepts:
        data["concepts"] = list(exercise.concepts)
    data["prompt"] = exercise.prompt
    if exercise.kind == "multiple_choice":
        options = []
        for option in exercise.options:
            item: dict[str, Any] = {"text": option.text}
            if option.correct:
                item["correct"] = True
            if option.misconception:
                item["misconception"] = option.misconception
            options.append(item)
        data["options"] = options
    elif exercise.kind == "numeric":
        data["answer"] = exercise.answer
        if exercise.tolerance:
            data["tolerance"] = exercise.tolerance
        if exercise.unit:
            data["unit"] = exercise.unit
    elif exercise.kind == "short_answer":
        data["accepted"] = list(exercise.accepted)
        if exercise.rubric:
            data["rubric"] = exercise.rubric
    if exercise.hints:
        data["hints"] = list(exercise.hints)
    if exercise.solution:
        data["solution"] = exercise.solution
    return data


def write_course_file(course: CourseSpec) -> str:
    data: dict[str, Any] = {"slug": course.slug, "title": course.title}
    if course.summary:
        data["summary"] = course.summary
    prior = [_concept_data(c) for c in course.concepts if c.prior_knowledge]
    if prior:
        data["prior_knowledge"] = prior
    concepts = [_concept_data(c) for c in course.concepts if not c.prior_knowledge]
    if concepts:
        data["concepts"] = concepts
    data["chapters"] = [
        {"slug": ch.slug, "title": ch.title, "steps": [s.slug for s in ch.steps]}
        for ch in course.chapters
    ]
    return _dump(data)


def write_step_file(step: StepSpec) -> str:
    data: dict[str, Any] = {"title": step.title}
    if step.teaches:
        data["teaches"] = list(step.teaches)
    if step.requires:
        data["requires"] = list(step.requires)
    if step.exercises:
        data["exercises"] = [_exercise_data(e) for e in step.exercises]
    if step.probes:
        data["probes"] = [_exercise_data(p) for p in step.probes]
    body = step.body.strip("\n")
    return f"---\n{_dump(data)}---\n" + (f"\n{body}\n" if body else "")


def write_course(course: CourseSpec) -> dict[str, str]:
    """The canonical files of a course, keyed by path relative to the course folder."""
    files = {COURSE_FILE: write_course_file(course)}
    for step in course.steps():
        files[step_path(step.slug)] = write_step_file(step)
    return files
