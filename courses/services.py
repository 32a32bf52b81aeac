"""Writes for courses: import from files, publish, and the instructor's edits in the browser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from accounts.models import User
from courses import fileformat, selectors
from courses.models import (
    Chapter,
    Concept,
    ConceptPrerequisite,
    Course,
    CourseVersion,
    Exercise,
    ExerciseConcept,
    SourceFile,
    Step,
    StepConcept,
    StepRevision,
)
from courses.spec import CourseSpec, ExerciseSpec, Problem, StepSpec
from courses.validation import validate


class CourseInvalid(Exception):
    """The course has problems; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class ImportResult:
    course: Course
    created: bool
    changed_steps: list[str] = field(default_factory=list)


def check_files(files: dict[str, str]) -> tuple[CourseSpec | None, list[Problem]]:
    """Read and validate course files: every problem, format and ramp."""
    spec, problems = fileformat.read_texts(files)
    if spec is not None and not problems:
        problems = validate(spec)
    return spec, problems


@transaction.atomic
def course_import(*, files: dict[str, str], author: User | None = None) -> ImportResult:
    """Create or update a course from its files, matching everything by slug.

    One transaction: a course with any problem raises CourseInvalid and changes nothing.
    Re-importing the same files changes nothing (no new revisions).
    """
    spec, problems = check_files(files)
    if problems or spec is None:
        raise CourseInvalid(problems)
    course, created = Course.objects.select_for_update().get_or_create(
        slug=spec.slug, defaults={"title": spec.title, "summary": spec.summary}
    )
    changed = _apply_spec(course, spec, author=author, note="imported from files")
    SourceFile.objects.filter(course=course).exclude(path__in=list(files)).delete()
    for path, text in files.items():
        SourceFile.objects.update_or_create(course=course, path=path, defaults={"text": text})
    return ImportResult(course=course, created=created, changed_steps=changed)


def course_export(course: Course) -> dict[str, str]:
    """The course's files. A file whose part of the course is unchanged since import comes back
    byte for byte as the author wrote it; any other is written in the canonical form."""
    spec = selectors.course_spec(course)
    files = fileformat.write_course(spec)
    sources = dict(SourceFile.objects.filter(course=course).values_list("path", "text"))
    imported, problems = fileformat.read_texts(sources) if sources else (None, [])
    if imported is None or problems:
        return files
    if _course_file_part(imported) == _course_file_part(spec):
        files[fileformat.COURSE_FILE] = sources[fileformat.COURSE_FILE]
    old_steps = {s.slug: s for s in imported.steps()}
    for step in spec.steps():
        path = fileformat.step_path(step.slug)
        if old_steps.get(step.slug) == step and path in sources:
            files[path] = sources[path]
    return files


def _course_file_part(spec: CourseSpec) -> Any:
    return (
        spec.slug,
        spec.title,
        spec.summary,
        spec.concepts,
        [(c.slug, c.title, [s.slug for s in c.steps]) for c in spec.chapters],
    )


@transaction.atomic
def course_publish(*, course: Course, user: User | None) -> CourseVersion:
    """Freeze the working copy as the next version; refused (CourseInvalid) with problems."""
    course = Course.objects.select_for_update().get(pk=course.pk)
    spec = selectors.course_spec(course)
    problems = validate(spec)
    if problems:
        raise CourseInvalid(problems)
    last = selectors.latest_version(course)
    version = CourseVersion.objects.create(
        course=course,
        number=(last.number + 1) if last else 1,
        spec=spec.to_json(),
        published_by=user,
    )
    if not course.is_published:
        course.is_published = True
        course.save(update_fields=["is_published", "updated_at"])
    return version


# ---------------------------------------------------------------------------------------------
# Applying a spec to the database (import, and the browser editor's saves)


def _apply_spec(course: Course, spec: CourseSpec, *, author: User | None, note: str) -> list[str]:
    if (course.title, course.summary) != (spec.title, spec.summary):
        course.title, course.summary = spec.title, spec.summary
        course.save(update_fields=["title", "summary", "updated_at"])

    concepts: dict[str, Concept] = {}
    for position, c in enumerate(spec.concepts):
        concepts[c.slug], _ = Concept.objects.update_or_create(
            course=course,
            slug=c.slug,
            defaults={
                "name": c.name,
                "description": c.description,
                "prior_knowledge": c.prior_knowledge,
                "position": position,
            },
        )
    for c in spec.concepts:
        concept = concepts[c.slug]
        ConceptPrerequisite.objects.filter(concept=concept).delete()
        ConceptPrerequisite.objects.bulk_create(
            ConceptPrerequisite(concept=concept, requires=concepts[r], position=i)
            for i, r in enumerate(c.requires)
        )

    existing_steps = {s.slug: s for s in selectors.steps_with_content(course)}
    old_texts = {
        slug: fileformat.write_step_file(selectors.step_spec(s))
        for slug, s in existing_steps.items()
    }
    changed: list[str] = []
    kept_chapters, kept_steps = [], []
    for chapter_position, ch in enumerate(spec.chapters):
        chapter, _ = Chapter.objects.update_or_create(
            course=course, slug=ch.slug, defaults={"title": ch.title, "position": chapter_position}
        )
        kept_chapters.append(chapter.pk)
        for step_position, s in enumerate(ch.steps):
            step = existing_steps.get(s.slug)
            if step is None:
                step = Step(course=course, slug=s.slug)
            step.chapter, step.position = chapter, step_position
            text = fileformat.write_step_file(s)
            if old_texts.get(s.slug) != text or step.pk is None:
                _write_step(step, s, concepts)
                record_revision(step, text=text, author=author, note=note)
                changed.append(s.slug)
            else:
                step.save(update_fields=["chapter", "position"])
            kept_steps.append(step.pk)
    Step.objects.filter(course=course).exclude(pk__in=kept_steps).delete()
    Chapter.objects.filter(course=course).exclude(pk__in=kept_chapters).delete()
    Concept.objects.filter(course=course).exclude(slug__in=list(concepts)).delete()
    return changed


def _write_step(step: Step, spec: StepSpec, concepts: dict[str, Concept]) -> None:
    step.title, step.body = spec.title, spec.body
    step.save()
    StepConcept.objects.filter(step=step).delete()
    StepConcept.objects.bulk_create(
        [
            StepConcept(step=step, concept=concepts[slug], relation=relation, position=i)
            for relation, slugs in (
                (StepConcept.Relation.TEACHES, spec.teaches),
                (StepConcept.Relation.REQUIRES, spec.requires),
            )
            for i, slug in enumerate(slugs)
            if slug in concepts
        ]
    )
    keep = []
    for is_probe, items in ((False, spec.exercises), (True, spec.probes)):
        for position, item in enumerate(items):
            keep.append(
                _write_exercise(step, item, concepts, is_probe=is_probe, position=position).pk
            )
    Exercise.objects.filter(step=step).exclude(pk__in=keep).delete()


def _write_exercise(
    step: Step, spec: ExerciseSpec, concepts: dict[str, Concept], *, is_probe: bool, position: int
) -> Exercise:
    exercise, _ = Exercise.objects.update_or_create(
        step=step,
        slug=spec.slug,
        defaults={
            "is_probe": is_probe,
            "position": position,
            "kind": spec.kind,
            "prompt": spec.prompt,
            "difficulty": spec.difficulty,
            "hints": list(spec.hints),
            "solution": spec.solution,
            "options": [
                {"text": o.text, "correct": o.correct, "misconception": o.misconception}
                for o in spec.options
            ],
            "answer": spec.answer,
            "tolerance": spec.tolerance,
            "unit": spec.unit,
            "accepted": list(spec.accepted),
            "rubric": spec.rubric,
        },
    )
    ExerciseConcept.objects.filter(exercise=exercise).delete()
    ExerciseConcept.objects.bulk_create(
        ExerciseConcept(exercise=exercise, concept=concepts[slug], position=i)
        for i, slug in enumerate(spec.concepts)
        if slug in concepts
    )
    return exercise


def record_revision(
    step: Step, *, text: str, author: User | None, note: str
) -> StepRevision | None:
    """Add a revision when the step's text differs from its last one."""
    last = StepRevision.objects.filter(step=step).order_by("-number").first()
    if last is not None and last.text == text:
        return None
    return StepRevision.objects.create(
        step=step, number=(last.number + 1) if last else 1, text=text, author=author, note=note
    )
