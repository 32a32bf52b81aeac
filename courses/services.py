"""Writes for courses: import from files, publish, and the instructor's edits in the browser."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils.text import slugify

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
from courses.spec import ConceptSpec, CourseSpec, ExerciseSpec, Problem, StepSpec
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
    from tutor.tasks import index_after_publish  # tutor imports courses: import here, not above

    # robust: the publish is committed by then, so a failed enqueue (broker down; or, run
    # eagerly, the model worker down) is logged, never raised; the indexing sweep catches up.
    transaction.on_commit(lambda: index_after_publish(version.pk), robust=True)
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
    old_specs = {slug: selectors.step_spec(s) for slug, s in existing_steps.items()}
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
            # Compared as data, not text: 3 and 3.0 are the same answer.
            if old_specs.get(s.slug) != s or step.pk is None:
                _write_step(step, s, concepts)
                record_revision(step, text=fileformat.write_step_file(s), author=author, note=note)
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


# ---------------------------------------------------------------------------------------------
# The instructor's edits in the browser.
#
# Each function runs in one transaction and first locks the course row, so that two instructors
# saving at once are applied one after the other (positions stay contiguous, the revision
# numbers of a step never collide). Slugs are set once, at creation: they are what files,
# re-imports and students' progress are keyed by. A change to a step's text (its file in the
# canonical form) records a StepRevision; moving a step between chapters does not change its
# text, and records none.


class AuthoringRefused(Exception):
    """An edit that cannot be made as asked; the message says why, for the instructor."""


class StepConflict(AuthoringRefused):
    """The step's title, body or concept tags were saved by someone else since the editor
    was opened."""

    def __init__(self, revision: StepRevision | None) -> None:
        who = "someone else"
        if revision is not None:
            who = revision.author.get_username() if revision.author else "an import"
            who += f" (revision {revision.number})"
        super().__init__(
            f"This step was changed by {who} after you opened it. Your text is kept below: "
            "compare it with the history, then save again to keep yours."
        )
        self.revision = revision


def _lock(course: Course) -> Course:
    return Course.objects.select_for_update().get(pk=course.pk)


def unique_slug(text: str, taken: set[str], *, fallback: str) -> str:
    """A file-format slug made from `text`, not among `taken` (a number is added if needed)."""
    base = slugify(text).replace("_", "-").strip("-")[:70].strip("-") or fallback
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def step_text(step: Step) -> str:
    """The step's file in the canonical form, read afresh from the database."""
    fresh = Step.objects.prefetch_related(
        "concept_links__concept", "exercises__concept_links__concept"
    ).get(pk=step.pk)
    return fileformat.write_step_file(selectors.step_spec(fresh))


def _record(step: Step, *, author: User | None, note: str) -> StepRevision | None:
    return record_revision(step, text=step_text(step), author=author, note=note)


def _renumber(items: list[Any]) -> None:
    for position, item in enumerate(items):
        if item.position != position:
            item.position = position
            item.save(update_fields=["position"])


def _move_in(items: list[Any], item: Any, offset: int) -> bool:
    """Move `item` by `offset` places within `items` (clamped); True when it moved."""
    index = next(i for i, other in enumerate(items) if other.pk == item.pk)
    target = max(0, min(len(items) - 1, index + offset))
    if target == index:
        return False
    items.insert(target, items.pop(index))
    _renumber(items)
    return True


def _ordered_links(old: list[str], chosen: list[str]) -> list[str]:
    """The chosen slugs, keeping the author's order of those already linked; new ones follow."""
    return [s for s in old if s in chosen] + [s for s in chosen if s not in old]


@transaction.atomic
def course_update(*, course: Course, title: str, summary: str) -> Course:
    course = _lock(course)
    course.title, course.summary = title, summary
    course.save(update_fields=["title", "summary", "updated_at"])
    return course


@transaction.atomic
def course_update_from_files(
    *, course: Course, files: dict[str, str], author: User | None
) -> ImportResult:
    """Replace the working copy of `course` with the course in `files` (an upload).

    Refused (CourseInvalid, nothing written) when the files are another course: an instructor
    of one course must not overwrite another by naming its slug.
    """
    _lock(course)
    spec, problems = fileformat.read_texts(files)
    if spec is not None and not problems and spec.slug != course.slug:
        raise CourseInvalid(
            [
                Problem(
                    f"the archive is the course '{spec.slug}', not this course "
                    f"('{course.slug}'): its slug must be '{course.slug}'",
                    spec.source,
                )
            ]
        )
    return course_import(files=files, author=author)


@transaction.atomic
def chapter_create(*, course: Course, title: str, slug: str = "") -> Chapter:
    course = _lock(course)
    taken = set(Chapter.objects.filter(course=course).values_list("slug", flat=True))
    if slug and slug in taken:
        raise AuthoringRefused(f"A chapter with the slug '{slug}' already exists.")
    return Chapter.objects.create(
        course=course,
        slug=slug or unique_slug(title, taken, fallback="chapter"),
        title=title,
        position=Chapter.objects.filter(course=course).count(),
    )


@transaction.atomic
def chapter_rename(*, chapter: Chapter, title: str) -> Chapter:
    _lock(chapter.course)
    chapter.title = title
    chapter.save(update_fields=["title"])
    return chapter


@transaction.atomic
def chapter_move(*, chapter: Chapter, offset: int) -> bool:
    """Move a chapter `offset` places (negative: earlier); True when it moved."""
    course = _lock(chapter.course)
    return _move_in(list(Chapter.objects.filter(course=course)), chapter, offset)


@transaction.atomic
def chapter_delete(*, chapter: Chapter) -> None:
    """Delete an empty chapter. A chapter with steps is refused: deleting it would take the
    steps' text and history with it, so its steps are moved or deleted one by one first."""
    course = _lock(chapter.course)
    if Step.objects.filter(chapter=chapter).exists():
        raise AuthoringRefused(
            f"Chapter '{chapter.title}' still has steps: move or delete them first."
        )
    chapter.delete()
    _renumber(list(Chapter.objects.filter(course=course)))


@transaction.atomic
def step_create(*, chapter: Chapter, title: str, slug: str = "", author: User | None) -> Step:
    """A new step at the end of `chapter`, with its first revision."""
    course = _lock(chapter.course)
    taken = set(Step.objects.filter(course=course).values_list("slug", flat=True))
    if slug and slug in taken:
        raise AuthoringRefused(f"A step with the slug '{slug}' already exists in this course.")
    step = Step.objects.create(
        course=course,
        chapter=chapter,
        slug=slug or unique_slug(title, taken, fallback="step"),
        title=title,
        position=Step.objects.filter(chapter=chapter).count(),
    )
    _record(step, author=author, note="created in the browser")
    return step


def step_fingerprint(step: Step) -> str:
    """A short digest of what the step editor changes (title, body, concept tags): the editor
    sends back the one it showed, so that a save over someone else's newer edit is noticed."""
    links = StepConcept.objects.filter(step=step).order_by("relation", "position", "id")
    tags = list(links.values_list("relation", "concept__slug"))
    payload = json.dumps([step.title, step.body, tags], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@transaction.atomic
def step_update(
    *,
    step: Step,
    title: str,
    body: str,
    teaches: list[str],
    requires: list[str],
    author: User | None,
    base: str | None = None,
    note: str = "",
) -> StepRevision | None:
    """Save a step's title, body and concept tags; the new revision, or None if unchanged.

    `base` is the step_fingerprint the editor showed; when the step has changed since, the save
    is refused with StepConflict so that neither instructor's text is silently overwritten.
    """
    course = _lock(step.course)
    step = Step.objects.get(pk=step.pk)
    if base is not None and base != step_fingerprint(step):
        raise StepConflict(StepRevision.objects.filter(step=step).order_by("-number").first())
    concepts = {c.slug: c for c in Concept.objects.filter(course=course)}
    unknown = [s for s in [*teaches, *requires] if s not in concepts]
    if unknown:
        raise AuthoringRefused(f"Unknown concept(s): {', '.join(unknown)}.")
    links = list(StepConcept.objects.filter(step=step).select_related("concept"))
    old = {
        relation: [k.concept.slug for k in links if k.relation == relation]
        for relation in StepConcept.Relation
    }
    step.title, step.body = title, _normalise_body(body)
    step.save(update_fields=["title", "body"])
    StepConcept.objects.filter(step=step).delete()
    StepConcept.objects.bulk_create(
        StepConcept(step=step, concept=concepts[slug], relation=relation, position=i)
        for relation, chosen in (
            (StepConcept.Relation.TEACHES, teaches),
            (StepConcept.Relation.REQUIRES, requires),
        )
        for i, slug in enumerate(_ordered_links(old[relation], chosen))
    )
    return _record(step, author=author, note=note or "edited in the browser")


def _normalise_body(body: str) -> str:
    # As the file format reads a body back: browsers send CRLF, files hold one final newline.
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return text + "\n" if text else ""


@transaction.atomic
def step_move(*, step: Step, offset: int) -> bool:
    """Move a step one place (offset -1 or +1). At either end of its chapter it moves into the
    neighbouring chapter (to its end or its start); True when it moved."""
    course = _lock(step.course)
    step = Step.objects.select_related("chapter").get(pk=step.pk)
    siblings = list(Step.objects.filter(chapter=step.chapter).order_by("position", "id"))
    if _move_in(siblings, step, offset):
        return True
    chapters = list(Chapter.objects.filter(course=course))
    index = next(i for i, ch in enumerate(chapters) if ch.pk == step.chapter_id)
    neighbour = index + (1 if offset > 0 else -1)
    if not 0 <= neighbour < len(chapters):
        return False
    target = chapters[neighbour]
    moved = list(Step.objects.filter(chapter=target).order_by("position", "id"))
    step.chapter = target
    step.save(update_fields=["chapter"])
    moved = [step, *moved] if offset > 0 else [*moved, step]
    for position, item in enumerate(moved):
        # Saved one by one: `step` changed chapter, so its position is written even when equal.
        item.position = position
        item.save(update_fields=["position"])
    _renumber([s for s in siblings if s.pk != step.pk])
    return True


@transaction.atomic
def step_delete(*, step: Step) -> None:
    """Delete a step with its exercises and history (the instructor confirmed it)."""
    _lock(step.course)
    chapter = step.chapter
    step.delete()
    _renumber(list(Step.objects.filter(chapter=chapter).order_by("position", "id")))


@transaction.atomic
def exercise_save(
    *,
    step: Step,
    exercise: Exercise | None,
    spec: ExerciseSpec,
    is_probe: bool,
    author: User | None,
) -> Exercise:
    """Create (exercise None, appended last) or update an exercise or probe of `step` from
    `spec`. The slug of an existing exercise is kept; the fields of other kinds are cleared."""
    course = _lock(step.course)
    concepts = {c.slug: c for c in Concept.objects.filter(course=course)}
    unknown = [s for s in spec.concepts if s not in concepts]
    if unknown:
        raise AuthoringRefused(f"Unknown concept(s): {', '.join(unknown)}.")
    if exercise is None:
        if Exercise.objects.filter(step=step, slug=spec.slug).exists():
            raise AuthoringRefused(f"This step already has an item with the slug '{spec.slug}'.")
        exercise = Exercise(
            step=step,
            slug=spec.slug,
            is_probe=is_probe,
            position=Exercise.objects.filter(step=step, is_probe=is_probe).count(),
        )
        old_concepts: list[str] = []
        created = True
    else:
        old_concepts = [k.concept.slug for k in exercise.concept_links.select_related("concept")]
        created = False
    kind = spec.kind
    exercise.kind = kind
    exercise.prompt = spec.prompt
    exercise.difficulty = spec.difficulty
    exercise.hints = [h for h in spec.hints if h.strip()]
    exercise.solution = spec.solution
    exercise.options = (
        [
            {"text": o.text, "correct": o.correct, "misconception": o.misconception}
            for o in spec.options
        ]
        if kind == Exercise.Kind.MULTIPLE_CHOICE
        else []
    )
    numeric = kind == Exercise.Kind.NUMERIC
    exercise.answer = spec.answer if numeric else None
    exercise.tolerance = spec.tolerance if numeric else 0.0
    exercise.unit = spec.unit if numeric else ""
    short = kind == Exercise.Kind.SHORT_ANSWER
    exercise.accepted = [a for a in spec.accepted if a.strip()] if short else []
    exercise.rubric = spec.rubric if short else ""
    exercise.save()
    ExerciseConcept.objects.filter(exercise=exercise).delete()
    ExerciseConcept.objects.bulk_create(
        ExerciseConcept(exercise=exercise, concept=concepts[slug], position=i)
        for i, slug in enumerate(_ordered_links(old_concepts, spec.concepts))
    )
    what = "probe" if exercise.is_probe else "exercise"
    _record(step, author=author, note=f"{'added' if created else 'edited'} {what} '{spec.slug}'")
    return exercise


@transaction.atomic
def exercise_move(*, exercise: Exercise, offset: int, author: User | None) -> bool:
    """Move an exercise among its step's exercises (or a probe among its probes)."""
    _lock(exercise.step.course)
    items = list(
        Exercise.objects.filter(step=exercise.step, is_probe=exercise.is_probe).order_by(
            "position", "id"
        )
    )
    if not _move_in(items, exercise, offset):
        return False
    _record(exercise.step, author=author, note=f"reordered '{exercise.slug}'")
    return True


@transaction.atomic
def exercise_delete(*, exercise: Exercise, author: User | None) -> None:
    _lock(exercise.step.course)
    step, slug, is_probe = exercise.step, exercise.slug, exercise.is_probe
    exercise.delete()
    _renumber(list(Exercise.objects.filter(step=step, is_probe=is_probe).order_by("position")))
    what = "probe" if is_probe else "exercise"
    _record(step, author=author, note=f"deleted {what} '{slug}'")


def concept_cycle(*, course: Course, slug: str, requires: list[str]) -> list[str] | None:
    """The cycle that giving concept `slug` these prerequisites would close, as the path of
    slugs from `slug` back to itself; None when the graph stays acyclic."""
    graph: dict[str, list[str]] = {}
    for concept, required in ConceptPrerequisite.objects.filter(concept__course=course).values_list(
        "concept__slug", "requires__slug"
    ):
        graph.setdefault(concept, []).append(required)
    graph[slug] = list(requires)
    # A path from one of the new prerequisites back to `slug` closes a cycle.
    for start in requires:
        path = _path(graph, start, slug)
        if path is not None:
            return [slug, *path]
    return None


def _path(graph: dict[str, list[str]], start: str, goal: str) -> list[str] | None:
    """A path start -> ... -> goal along the edges of `graph` (depth first), or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack.extend((nxt, [*path, nxt]) for nxt in reversed(graph.get(node, [])))
    return None


@transaction.atomic
def concept_save(*, course: Course, concept: Concept | None, spec: ConceptSpec) -> Concept:
    """Create (concept None, appended last) or update a concept and its prerequisite edges.

    Refused (AuthoringRefused) when an edge would close a cycle or names an unknown concept,
    or when a prior-knowledge concept is given prerequisites (the file format has no place for
    them: nothing is taught before what students bring on arrival).
    """
    course = _lock(course)
    slug = concept.slug if concept is not None else spec.slug
    if spec.prior_knowledge and spec.requires:
        raise AuthoringRefused("A prior-knowledge concept cannot require other concepts.")
    others = {c.slug: c for c in Concept.objects.filter(course=course).exclude(slug=slug)}
    unknown = [s for s in spec.requires if s not in others]
    if unknown:
        raise AuthoringRefused(f"Unknown concept(s): {', '.join(unknown)}.")
    cycle = concept_cycle(course=course, slug=slug, requires=spec.requires)
    if cycle is not None:
        raise AuthoringRefused(f"That would make a cycle: {' → '.join(cycle)}.")
    if concept is None:
        if Concept.objects.filter(course=course, slug=slug).exists():
            raise AuthoringRefused(f"A concept with the slug '{slug}' already exists.")
        concept = Concept(
            course=course, slug=slug, position=Concept.objects.filter(course=course).count()
        )
        old: list[str] = []
    else:
        old = [e.requires.slug for e in concept.prerequisite_edges.select_related("requires")]
    concept.name = spec.name
    concept.description = spec.description
    concept.prior_knowledge = spec.prior_knowledge
    concept.save()
    ConceptPrerequisite.objects.filter(concept=concept).delete()
    ConceptPrerequisite.objects.bulk_create(
        ConceptPrerequisite(concept=concept, requires=others[r], position=i)
        for i, r in enumerate(_ordered_links(old, spec.requires))
    )
    return concept


@transaction.atomic
def concept_delete(*, concept: Concept, author: User | None) -> list[Step]:
    """Delete a concept, its edges and its tags on steps and exercises; the steps whose text
    changed get a revision and are returned."""
    course = _lock(concept.course)
    steps = list(
        Step.objects.filter(course=course)
        .filter(
            models.Q(concept_links__concept=concept)
            | models.Q(exercises__concept_links__concept=concept)
        )
        .distinct()
    )
    slug = concept.slug
    concept.delete()
    _renumber(list(Concept.objects.filter(course=course)))
    for step in steps:
        _record(step, author=author, note=f"concept '{slug}' deleted")
    return steps
