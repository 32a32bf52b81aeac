"""Reads that span several course models."""

from __future__ import annotations

from functools import lru_cache

from courses.models import Concept, Course, CourseVersion, Exercise, Step, StepConcept
from courses.spec import (
    ChapterSpec,
    ConceptSpec,
    CourseSpec,
    ExerciseSpec,
    OptionSpec,
    StepSpec,
)


def exercise_spec(exercise: Exercise) -> ExerciseSpec:
    return ExerciseSpec(
        slug=exercise.slug,
        kind=exercise.kind,
        prompt=exercise.prompt,
        difficulty=exercise.difficulty,
        concepts=[link.concept.slug for link in exercise.concept_links.all()],
        hints=list(exercise.hints),
        solution=exercise.solution,
        options=[OptionSpec(**option) for option in exercise.options],
        answer=_number(exercise.answer),
        tolerance=_number(exercise.tolerance) or 0.0,
        unit=exercise.unit,
        accepted=list(exercise.accepted),
        rubric=exercise.rubric,
    )


def _number(value: float | None) -> float | None:
    """Whole numbers come back as int, as an author writes them (3, not 3.0)."""
    if value is not None and float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def step_spec(step: Step) -> StepSpec:
    links = list(step.concept_links.all())
    exercises = list(step.exercises.all())
    return StepSpec(
        slug=step.slug,
        title=step.title,
        body=step.body,
        teaches=[k.concept.slug for k in links if k.relation == StepConcept.Relation.TEACHES],
        requires=[k.concept.slug for k in links if k.relation == StepConcept.Relation.REQUIRES],
        exercises=[exercise_spec(e) for e in exercises if not e.is_probe],
        probes=[exercise_spec(e) for e in exercises if e.is_probe],
    )


def steps_with_content(course: Course) -> list[Step]:
    return list(
        Step.objects.filter(course=course)
        .select_related("chapter")
        .prefetch_related("concept_links__concept", "exercises__concept_links__concept")
    )


def course_spec(course: Course) -> CourseSpec:
    """The working copy of a course, as plain data."""
    concepts = Concept.objects.filter(course=course).prefetch_related(
        "prerequisite_edges__requires"
    )
    steps = steps_with_content(course)
    spec = CourseSpec(
        slug=course.slug,
        title=course.title,
        summary=course.summary,
        concepts=[
            ConceptSpec(
                slug=c.slug,
                name=c.name,
                description=c.description,
                requires=[edge.requires.slug for edge in c.prerequisite_edges.all()],
                prior_knowledge=c.prior_knowledge,
            )
            for c in concepts
        ],
    )
    for chapter in course.chapters.all():
        spec.chapters.append(
            ChapterSpec(
                slug=chapter.slug,
                title=chapter.title,
                steps=[step_spec(s) for s in steps if s.chapter_id == chapter.pk],
            )
        )
    return spec


def latest_version(course: Course) -> CourseVersion | None:
    return (
        CourseVersion.objects.filter(course=course)
        .select_related("course")
        .order_by("-number")
        .first()
    )


@lru_cache(maxsize=64)
def _version_spec(version_id: int) -> CourseSpec:
    # Published versions never change, so their parsed form can be kept for the process's life.
    version = CourseVersion.objects.get(pk=version_id)
    return CourseSpec.from_json(version.spec)


def version_spec(version: CourseVersion) -> CourseSpec:
    return _version_spec(version.pk)
