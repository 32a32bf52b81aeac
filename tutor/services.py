"""Writes for enrollments and progress. Views, consumers and tasks call these."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from courses import answers
from courses.models import Course, CourseVersion
from courses.spec import ExerciseSpec, StepSpec
from tutor.models import Attempt, Enrollment, ExerciseProgress, Role


@transaction.atomic
def enrollment_create(*, user: User, course: Course, role: Role = Role.STUDENT) -> Enrollment:
    """Enroll the user; an existing enrollment keeps its role (joining twice changes nothing)."""
    if role == Role.STUDENT and not course.is_published:
        raise ValidationError("This course is not open for enrollment yet.")
    enrollment, _ = Enrollment.objects.get_or_create(
        user=user, course=course, defaults={"role": role}
    )
    return enrollment


@transaction.atomic
def enrollment_set_role(*, user: User, course: Course, role: Role) -> Enrollment:
    """Give the user this role in the course (staff and instructors appoint TAs and instructors)."""
    enrollment, _ = Enrollment.objects.update_or_create(
        user=user, course=course, defaults={"role": role}
    )
    return enrollment


@dataclass(frozen=True)
class AttemptOutcome:
    attempt: Attempt
    progress: ExerciseProgress


def _progress_for(
    *, user: User, course: Course, step_slug: str, exercise_slug: str
) -> ExerciseProgress:
    progress, _ = ExerciseProgress.objects.select_for_update().get_or_create(
        user=user, course=course, step_slug=step_slug, exercise_slug=exercise_slug
    )
    return progress


@transaction.atomic
def attempt_submit(
    *,
    user: User,
    version: CourseVersion,
    step: StepSpec,
    exercise: ExerciseSpec,
    answer: str,
) -> AttemptOutcome:
    """Check and store an answer. Raises AnswerInvalid (not stored, not counted) when the answer
    cannot be checked at all; every checkable answer is kept with its correctness, the hints
    used so far, and the time since the student started (or last answered) this exercise."""
    verdict = answers.check(exercise, answer)
    progress = _progress_for(
        user=user, course=version.course, step_slug=step.slug, exercise_slug=exercise.slug
    )
    last = (
        Attempt.objects.filter(user=user, step_slug=step.slug, exercise_slug=exercise.slug)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    since = max(filter(None, [progress.started_at, last]))
    elapsed_ms = int((timezone.now() - since).total_seconds() * 1000)
    attempt = Attempt.objects.create(
        user=user,
        course_version=version,
        step_slug=step.slug,
        exercise_slug=exercise.slug,
        answer=answer,
        correct=verdict.correct,
        feedback=verdict.feedback,
        hints_used=progress.hints_revealed,
        time_on_task_ms=max(0, min(elapsed_ms, 2**31 - 1)),
    )
    progress.attempts += 1
    progress.solved = progress.solved or verdict.correct
    progress.save(update_fields=["attempts", "solved", "updated_at"])
    return AttemptOutcome(attempt, progress)


@transaction.atomic
def hint_reveal(
    *, user: User, course: Course, step: StepSpec, exercise: ExerciseSpec
) -> ExerciseProgress:
    """Reveal the next hint of the ladder (one at a time; never past the last)."""
    progress = _progress_for(
        user=user, course=course, step_slug=step.slug, exercise_slug=exercise.slug
    )
    if progress.hints_revealed < len(exercise.hints):
        progress.hints_revealed += 1
        progress.save(update_fields=["hints_revealed", "updated_at"])
    return progress


class SolutionLocked(Exception):
    """The worked solution opens only after an attempt or after the last hint."""


@transaction.atomic
def solution_open(
    *, user: User, course: Course, step: StepSpec, exercise: ExerciseSpec
) -> ExerciseProgress:
    progress = _progress_for(
        user=user, course=course, step_slug=step.slug, exercise_slug=exercise.slug
    )
    if not solution_available(progress, exercise):
        raise SolutionLocked("Try the exercise (or use every hint) before opening the solution.")
    if not progress.solution_viewed:
        progress.solution_viewed = True
        progress.save(update_fields=["solution_viewed", "updated_at"])
    return progress


def solution_available(progress: ExerciseProgress | None, exercise: ExerciseSpec) -> bool:
    if progress is None:
        return False
    return progress.attempts > 0 or progress.hints_revealed >= len(exercise.hints)


def place_record(*, enrollment: Enrollment | None, step_slug: str) -> None:
    """Remember the step the student is on, so they come back to it."""
    if enrollment is not None and enrollment.current_step_slug != step_slug:
        enrollment.current_step_slug = step_slug
        enrollment.save(update_fields=["current_step_slug"])


@transaction.atomic
def step_visit(
    *, user: User, course: Course, enrollment: Enrollment | None, step: StepSpec
) -> dict[str, ExerciseProgress]:
    """Record that the student opened the step: their place, and the start of the clock for
    each exercise they have not started yet. Returns the progress of each exercise by slug."""
    place_record(enrollment=enrollment, step_slug=step.slug)
    result = {}
    for exercise in step.exercises:
        result[exercise.slug], _ = ExerciseProgress.objects.get_or_create(
            user=user, course=course, step_slug=step.slug, exercise_slug=exercise.slug
        )
    return result
