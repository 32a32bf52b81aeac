"""Writes for enrollments and progress. Views, consumers and tasks call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import fsrs
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from courses import answers
from courses.models import Course, CourseVersion
from courses.spec import CourseSpec, ExerciseSpec, StepSpec
from courses.validation import exercise_concepts
from tutor import learner, progress
from tutor.models import (
    Attempt,
    ConceptMastery,
    ConceptParams,
    Enrollment,
    ExerciseProgress,
    ItemDifficulty,
    PlacementProbe,
    Role,
    StudyTime,
)


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
    row, _ = ExerciseProgress.objects.select_for_update().get_or_create(
        user=user, course=course, step_slug=step_slug, exercise_slug=exercise_slug
    )
    return row


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
    row = _progress_for(
        user=user, course=version.course, step_slug=step.slug, exercise_slug=exercise.slug
    )
    last = (
        Attempt.objects.filter(user=user, step_slug=step.slug, exercise_slug=exercise.slug)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    since = max(filter(None, [row.started_at, last]))
    elapsed_ms = int((timezone.now() - since).total_seconds() * 1000)
    # A free answer outside the accepted ones is graded against the instructor's rubric by the
    # model, after commit; until then it counts as tried but neither right nor wrong.
    by_rubric = exercise.kind == "short_answer" and not verdict.correct and bool(exercise.rubric)
    attempt = Attempt.objects.create(
        user=user,
        course_version=version,
        step_slug=step.slug,
        exercise_slug=exercise.slug,
        answer=answer,
        correct=verdict.correct,
        feedback=RUBRIC_PENDING if by_rubric else verdict.feedback,
        grading=Attempt.Grading.PENDING if by_rubric else Attempt.Grading.EXACT,
        hints_used=row.hints_revealed,
        time_on_task_ms=max(0, min(elapsed_ms, 2**31 - 1)),
    )
    row.attempts += 1
    row.solved = row.solved or verdict.correct
    row.save(update_fields=["attempts", "solved", "updated_at"])
    if by_rubric:
        from tutor.tasks import grade_short_answer

        transaction.on_commit(lambda: grade_short_answer.delay(attempt.pk), robust=True)
    else:
        mastery_record_answer(
            user=user,
            course=version.course,
            step=step,
            exercise=exercise,
            correct=verdict.correct,
            attempt=attempt,
        )
        _escalations_after_commit(attempt.pk)
    study_time_record(user=user, course=version.course, step_slug=step.slug)
    return AttemptOutcome(attempt, row)


def _escalations_after_commit(attempt_id: int) -> None:
    """The escalation rules read the stored attempt once it is committed; their failure is only
    logged and never undoes or delays the attempt."""
    from tutor import escalations  # imported here: escalations builds on this module

    transaction.on_commit(
        lambda: escalations.safely(escalations.check_after_attempt, attempt_id=attempt_id)
    )


RUBRIC_PENDING = "Checking your answer against the instructor's rubric…"
NEEDS_TA = "A TA will review this answer: the automatic grading could not decide."


@transaction.atomic
def attempt_grade_by_rubric(*, attempt_id: int, verdict: dict[str, object] | None) -> Attempt:
    """Apply the model's grade to a pending attempt (once: a redelivered task finds it graded).
    A verdict that is missing or not {"correct": bool, "feedback": str} sends the attempt to a
    human TA; it is never guessed."""
    attempt = Attempt.objects.select_for_update().get(pk=attempt_id)
    if attempt.grading != Attempt.Grading.PENDING:
        return attempt
    valid = (
        isinstance(verdict, dict)
        and isinstance(verdict.get("correct"), bool)
        and isinstance(verdict.get("feedback"), str)
    )
    if not valid or verdict is None:
        attempt.grading, attempt.feedback = Attempt.Grading.NEEDS_TA, NEEDS_TA
        attempt.save(update_fields=["grading", "feedback"])
        _escalations_after_commit(attempt.pk)
        return attempt
    correct = bool(verdict["correct"])
    attempt.correct = correct
    attempt.feedback = str(verdict["feedback"])[:1000] or ("Correct." if correct else "Not quite.")
    attempt.grading = Attempt.Grading.MODEL
    attempt.save(update_fields=["correct", "feedback", "grading"])
    spec = CourseSpec.from_json(attempt.course_version.spec)
    step = spec.step(attempt.step_slug)
    exercise = step.exercise(attempt.exercise_slug) if step else None
    if step is not None and exercise is not None:
        course = attempt.course_version.course
        if correct:
            ExerciseProgress.objects.filter(
                user=attempt.user, course=course, step_slug=step.slug, exercise_slug=exercise.slug
            ).update(solved=True)
        mastery_record_answer(
            user=attempt.user,
            course=course,
            step=step,
            exercise=exercise,
            correct=correct,
            attempt=attempt,
        )
    _escalations_after_commit(attempt.pk)
    return attempt


@transaction.atomic
def hint_reveal(
    *, user: User, course: Course, step: StepSpec, exercise: ExerciseSpec
) -> ExerciseProgress:
    """Reveal the next hint of the ladder (one at a time; never past the last)."""
    row = _progress_for(user=user, course=course, step_slug=step.slug, exercise_slug=exercise.slug)
    if row.hints_revealed < len(exercise.hints):
        row.hints_revealed += 1
        row.save(update_fields=["hints_revealed", "updated_at"])
    study_time_record(user=user, course=course, step_slug=step.slug)
    return row


class SolutionLocked(Exception):
    """The worked solution opens only after an attempt or after the last hint."""


@transaction.atomic
def solution_open(
    *, user: User, course: Course, step: StepSpec, exercise: ExerciseSpec
) -> ExerciseProgress:
    row = _progress_for(user=user, course=course, step_slug=step.slug, exercise_slug=exercise.slug)
    if not solution_available(row, exercise):
        raise SolutionLocked("Try the exercise (or use every hint) before opening the solution.")
    if not row.solution_viewed:
        row.solution_viewed = True
        row.save(update_fields=["solution_viewed", "updated_at"])
    return row


def solution_available(row: ExerciseProgress | None, exercise: ExerciseSpec) -> bool:
    if row is None:
        return False
    return row.attempts > 0 or row.hints_revealed >= len(exercise.hints)


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
    study_time_record(user=user, course=course, step_slug=step.slug)
    result = {}
    for exercise in step.exercises:
        result[exercise.slug], _ = ExerciseProgress.objects.get_or_create(
            user=user, course=course, step_slug=step.slug, exercise_slug=exercise.slug
        )
    return result


# Activity closer than this to the previous activity on the step is study time; a longer gap
# (the student left, or the tab sat open) starts a new session and is not counted.
IDLE_GAP = timedelta(minutes=10)


def study_time_record(
    *, user: User, course: Course, step_slug: str, now: datetime | None = None
) -> StudyTime:
    """Count the time since the student's previous activity on the step as study time (when
    it is under IDLE_GAP), for the course's insights. One row per student and step."""
    now = now or timezone.now()
    with transaction.atomic():
        row, created = StudyTime.objects.select_for_update().get_or_create(
            user=user,
            course=course,
            step_slug=step_slug,
            defaults={"first_seen_at": now, "last_seen_at": now},
        )
        if created:
            return row
        gap = now - row.last_seen_at
        if gap <= timedelta(0):
            return row
        if gap <= IDLE_GAP:
            row.active_seconds += int(gap.total_seconds())
        else:
            row.sessions += 1
        row.last_seen_at = now
        row.save(update_fields=["active_seconds", "sessions", "last_seen_at"])
    return row


# ---------------------------------------------------------------------------------------------
# The learner model: mastery, ability, difficulty, reviews, placement


def concept_params(course: Course) -> dict[str, learner.BKTParams]:
    return {
        p.concept_slug: learner.BKTParams(p.p_init, p.p_learn, p.p_slip, p.p_guess)
        for p in ConceptParams.objects.filter(course=course)
    }


def _mastery_row(user: User, course: Course, concept: str, default: float) -> ConceptMastery:
    row, _ = ConceptMastery.objects.select_for_update().get_or_create(
        user=user, course=course, concept_slug=concept, defaults={"p_known": default}
    )
    return row


_SCHEDULER = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)


@transaction.atomic
def mastery_record_answer(
    *,
    user: User,
    course: Course,
    step: StepSpec,
    exercise: ExerciseSpec,
    correct: bool,
    now: datetime | None = None,
    attempt: Attempt | None = None,
) -> dict[str, float]:
    """Update knowledge tracing, ability, the item's difficulty and the review schedule after a
    graded answer (an exercise or a probe). Row locks keep two tabs from losing an update.
    With the attempt, the change in mastery it caused is stored on it (for the insights)."""
    now = now or timezone.now()
    params = concept_params(course)
    concepts = exercise_concepts(step, exercise)
    rows = {
        c: _mastery_row(user, course, c, params.get(c, learner.DEFAULT_PARAMS).init)
        for c in concepts
    }
    item, _ = ItemDifficulty.objects.select_for_update().get_or_create(
        course=course,
        step_slug=step.slug,
        exercise_slug=exercise.slug,
        defaults={"beta": learner.prior_difficulty(exercise.difficulty)},
    )
    state = learner.LearnerState(
        mastery={c: r.p_known for c, r in rows.items()},
        theta={c: r.ability for c, r in rows.items()},
        beta={(step.slug, exercise.slug): item.beta},
    )
    predicted = learner.predict(state, step, exercise, params)
    on_mastered_ground = learner.on_mastered_ground(state.mastery, concepts)
    result = {}
    gain = 0.0
    for concept, row in rows.items():
        p = params.get(concept, learner.DEFAULT_PARAMS)
        before = row.p_known
        row.p_known = learner.bkt_update(row.p_known, correct, p, learner.guess_rate(exercise, p))
        theta, beta = learner.elo_update(
            theta=row.ability,
            beta=item.beta,
            n_student=row.observations,
            n_item=item.answers,
            correct=correct,
            predicted=predicted,
        )
        row.ability = theta
        item.beta = beta
        row.observations += 1
        if row.review_card is not None or row.p_known >= learner.MASTERY_THRESHOLD:
            card = fsrs.Card.from_dict(row.review_card) if row.review_card else fsrs.Card()
            rating = fsrs.Rating.Good if correct else fsrs.Rating.Again
            card, _ = _SCHEDULER.review_card(card, rating, now)
            row.review_card, row.review_due = card.to_dict(), card.due
        row.save()
        result[concept] = row.p_known
        gain += row.p_known - before
    item.answers += 1
    item.save(update_fields=["beta", "answers"])
    if attempt is not None:
        Attempt.objects.filter(pk=attempt.pk).update(
            mastery_gain=gain, on_mastered_ground=on_mastered_ground
        )
        attempt.mastery_gain, attempt.on_mastered_ground = gain, on_mastered_ground
    return result


# Answers replayed to rebuild a student's wrong streaks (and the prerequisites proven since).
STREAK_HISTORY = 50


def learner_state(user: User, course: Course, spec: CourseSpec) -> learner.LearnerState:
    rows = list(ConceptMastery.objects.filter(user=user, course=course))
    solved = progress.solved_exercises(user, course)
    statuses = progress.ramp_status(spec, solved, progress.mastered_concepts(user, course))
    now = timezone.now()
    history = list(
        Attempt.objects.filter(user=user, course_version__course=course, is_probe=False)
        .exclude(grading__in=(Attempt.Grading.PENDING, Attempt.Grading.NEEDS_TA))
        .order_by("-created_at", "-id")
        .values_list("step_slug", "exercise_slug", "correct", "on_mastered_ground")[:STREAK_HISTORY]
    )[::-1]
    state = learner.LearnerState(
        mastery={r.concept_slug: r.p_known for r in rows},
        theta={r.concept_slug: r.ability for r in rows},
        beta={
            (d.step_slug, d.exercise_slug): d.beta
            for d in ItemDifficulty.objects.filter(course=course)
        },
        solved=solved,
        completed_steps={s.step.slug for s in statuses if s.state == progress.StepState.DONE},
        due_reviews=[r.concept_slug for r in rows if r.review_due and r.review_due <= now],
        recent=[correct for _, _, correct, _ in history][-learner.RECENT_WINDOW :],
        last_was_review=bool(history) and history[-1][3],
    )
    # The wrong streaks per concept, as the policy's prerequisite checks need them.
    for step_slug, exercise_slug, correct, _ in history:
        step = spec.step(step_slug)
        exercise = step.exercise(exercise_slug) if step else None
        if step is not None and exercise is not None:
            learner.record_streaks(state, spec, exercise_concepts(step, exercise), correct)
    return state


def next_activity_for(*, user: User, course: Course, spec: CourseSpec) -> learner.Suggestion | None:
    """The policy's suggestion from the stored state, as the simulator runs it (bench/
    adaptive_sim.py): whether the last answer was a review comes from that answer."""
    return learner.next_activity(
        spec,
        learner_state(user, course, spec),
        concept_params(course),
        target=course.target_success,
    )


class PlacementRejected(Exception):
    """An answer that does not belong to the probe's current question: not asked, already
    answered, or sent after the probe ended. Nothing changes."""


@transaction.atomic
def placement_start(
    *, user: User, course: Course, version: CourseVersion, chapter_slug: str = ""
) -> PlacementProbe:
    """The student's probe in progress, or a new one (which also serves 'redo'): over the whole
    course, or over one chapter's concepts at its start (what the student already shows they
    master counts as known there)."""
    active = (
        PlacementProbe.objects.select_for_update()
        .filter(user=user, course=course, state=PlacementProbe.State.ACTIVE)
        .first()
    )
    if active is not None:
        return active
    spec = CourseSpec.from_json(version.spec)
    graph = learner.ConceptGraph.from_spec(spec)
    beliefs = learner.prior_beliefs(graph)
    if chapter_slug and any(c.slug == chapter_slug for c in spec.chapters):
        scope = learner.chapter_concepts(spec, chapter_slug)
        beliefs = {c: p for c, p in beliefs.items() if c in scope}
    else:
        chapter_slug = ""
    probe = PlacementProbe(
        user=user,
        course=course,
        course_version=version,
        beliefs=beliefs,
        chapter_slug=chapter_slug,
    )
    _placement_advance(probe, spec, graph)
    probe.save()
    return probe


def _placement_advance(
    probe: PlacementProbe, spec: CourseSpec, graph: learner.ConceptGraph
) -> None:
    """Pick the next question, or finish and place the student."""
    asked = {(a[0], a[1]) for a in probe.asked}
    choice = None
    if len(asked) < learner.PROBE_CAP and not learner.settled(probe.beliefs):
        refs = [r for r in learner.probe_refs(spec, graph) if r.concept in probe.beliefs]
        choice = learner.choose_probe(probe.beliefs, graph, refs, asked)
    if choice is not None:
        probe.current_step_slug, probe.current_probe_slug = choice.step_slug, choice.slug
        return
    step = learner.placement_step(spec, probe.beliefs, probe.chapter_slug)
    probe.state = PlacementProbe.State.FINISHED
    probe.finished_at = timezone.now()
    probe.current_step_slug = probe.current_probe_slug = ""
    probe.placed_step_slug = step.slug if step else ""
    probe.explanation = learner.placement_explanation(spec, graph, probe.beliefs, step)


@transaction.atomic
def placement_answer(
    *,
    user: User,
    probe_id: int,
    question_number: int,
    step_slug: str,
    probe_slug: str,
    answer: str,
) -> PlacementProbe:
    """Grade one probe answer and move on. Raises PlacementRejected (nothing changes) for a
    question that is not the current one, and AnswerInvalid for an unreadable answer."""
    probe = PlacementProbe.objects.select_for_update().filter(pk=probe_id, user=user).first()
    if probe is None:
        raise PlacementRejected("There is no such placement probe.")
    if probe.state != PlacementProbe.State.ACTIVE:
        raise PlacementRejected("This placement probe has ended.")
    current = (probe.question_number, probe.current_step_slug, probe.current_probe_slug)
    if (question_number, step_slug, probe_slug) != current:
        raise PlacementRejected("That answer is not for the current question (already answered?).")
    spec = CourseSpec.from_json(probe.course_version.spec)
    graph = learner.ConceptGraph.from_spec(spec)
    step = spec.step(step_slug)
    item = next((p for p in step.probes if p.slug == probe_slug), None) if step else None
    if step is None or item is None:
        raise PlacementRejected("That question is not in this course.")
    correct = answers.check(item, answer).correct
    ref = next(r for r in learner.probe_refs(spec, graph) if (r.step_slug, r.slug) == current[1:])
    probe.beliefs = learner.observe(
        probe.beliefs,
        graph,
        ref.concept,
        correct,
        slip=learner.DEFAULT_PARAMS.slip,
        guess=ref.guess,
    )
    probe.asked = [*probe.asked, [step_slug, probe_slug, answer[:500], correct]]
    probe.question_number += 1
    _placement_advance(probe, spec, graph)
    probe.save()
    if probe.state == PlacementProbe.State.FINISHED:
        _placement_apply(probe, spec)
    return probe


def _placement_apply(probe: PlacementProbe, spec: CourseSpec) -> None:
    """The probe's beliefs become the student's starting mastery; their place is the step it
    chose."""
    for concept, p_known in probe.beliefs.items():
        ConceptMastery.objects.update_or_create(
            user=probe.user,
            course=probe.course,
            concept_slug=concept,
            defaults={"p_known": p_known},
        )
    enrollment = Enrollment.objects.filter(user=probe.user, course=probe.course).first()
    if probe.placed_step_slug:
        place_record(enrollment=enrollment, step_slug=probe.placed_step_slug)


@transaction.atomic
def placement_skip(*, user: User, course: Course, version: CourseVersion) -> PlacementProbe:
    probe = placement_start(user=user, course=course, version=version)
    probe.state = PlacementProbe.State.SKIPPED
    probe.finished_at = timezone.now()
    probe.explanation = "You skipped the placement questions, so we start at the beginning."
    probe.save()
    return probe


MIN_SEQUENCES_TO_FIT = 20


@transaction.atomic
def concept_params_refit(*, course: Course) -> dict[str, learner.BKTParams]:
    """Refit each concept's knowledge-tracing parameters from the attempt log, where at least
    MIN_SEQUENCES_TO_FIT students answered it; other concepts keep the authored defaults.
    Running it twice on the same log gives the same parameters (safe to retry)."""
    specs: dict[int, CourseSpec] = {}
    sequences: dict[str, dict[int, list[tuple[bool, float]]]] = {}
    attempts = Attempt.objects.filter(course_version__course=course).order_by(
        "user_id", "created_at", "id"
    )
    for attempt in attempts.iterator():
        spec = specs.get(attempt.course_version_id)
        if spec is None:
            spec = specs[attempt.course_version_id] = CourseSpec.from_json(
                attempt.course_version.spec
            )
        step = spec.step(attempt.step_slug)
        exercise = step.exercise(attempt.exercise_slug) if step else None
        if step is None or exercise is None:
            continue
        for concept in exercise_concepts(step, exercise):
            by_user = sequences.setdefault(concept, {})
            by_user.setdefault(attempt.user_id, []).append(
                (attempt.correct, learner.guess_rate(exercise))
            )
    fitted = {}
    for concept, by_user in sequences.items():
        if len(by_user) < MIN_SEQUENCES_TO_FIT:
            continue
        params = learner.fit_bkt(list(by_user.values()))
        ConceptParams.objects.update_or_create(
            course=course,
            concept_slug=concept,
            defaults={
                "p_init": params.init,
                "p_learn": params.learn,
                "p_slip": params.slip,
                "p_guess": params.guess,
                "sequences": len(by_user),
            },
        )
        fitted[concept] = params
    return fitted
