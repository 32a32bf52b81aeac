"""Where a student stands in a ramp: which exercises are solved, which steps are done, which are
unlocked. A step unlocks when every concept it needs (its own prerequisites and those of the
concepts it teaches) is prior knowledge, taught by a step the student has completed, or mastered
(knowledge tracing at or above the threshold, for example after the placement probe)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from accounts.models import User
from courses.models import Course
from courses.spec import CourseSpec, StepSpec
from tutor.learner import MASTERY_THRESHOLD
from tutor.models import ConceptMastery, ExerciseProgress


class StepState(StrEnum):
    DONE = "done"
    OPEN = "open"
    LOCKED = "locked"


@dataclass(frozen=True)
class StepStatus:
    step: StepSpec
    state: StepState
    solved: int
    total: int
    missing: tuple[str, ...]  # concepts still needed, when locked


def solved_exercises(user: User, course: Course) -> set[tuple[str, str]]:
    return set(
        ExerciseProgress.objects.filter(user=user, course=course, solved=True).values_list(
            "step_slug", "exercise_slug"
        )
    )


def needed_concepts(spec: CourseSpec, step: StepSpec) -> list[str]:
    needed = list(step.requires)
    for slug in step.teaches:
        concept = spec.concept(slug)
        if concept is not None:
            needed += [r for r in concept.requires if r not in step.teaches]
    return list(dict.fromkeys(needed))


def mastered_concepts(user: User, course: Course, threshold: float = MASTERY_THRESHOLD) -> set[str]:
    return set(
        ConceptMastery.objects.filter(user=user, course=course, p_known__gte=threshold).values_list(
            "concept_slug", flat=True
        )
    )


def ramp_status(
    spec: CourseSpec, solved: set[tuple[str, str]], mastered: set[str] | None = None
) -> list[StepStatus]:
    known = {c.slug for c in spec.concepts if c.prior_knowledge} | (mastered or set())
    done_steps = []
    for step in spec.steps():
        exercises = [e.slug for e in step.exercises]
        if all((step.slug, e) in solved for e in exercises):
            done_steps.append(step)
    for step in done_steps:
        known.update(step.teaches)
    done = {s.slug for s in done_steps}
    result = []
    for step in spec.steps():
        total = len(step.exercises)
        count = sum((step.slug, e.slug) in solved for e in step.exercises)
        missing = tuple(c for c in needed_concepts(spec, step) if c not in known)
        if step.slug in done:
            state = StepState.DONE
        elif missing:
            state = StepState.LOCKED
        else:
            state = StepState.OPEN
        result.append(StepStatus(step, state, count, total, missing))
    return result


def open_steps(spec: CourseSpec, solved: set[tuple[str, str]], mastered: set[str]) -> set[str]:
    """The steps the student may open (done or open, not locked): the rule of
    `eureka.access.access_step_for_study`, for every step at once."""
    return {
        status.step.slug
        for status in ramp_status(spec, solved, mastered)
        if status.state != StepState.LOCKED
    }
