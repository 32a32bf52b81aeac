import logging

from celery import Task, shared_task

from courses.models import Course
from tutor import model_client, retrieval, services
from tutor.model_client import ModelUnavailable

log = logging.getLogger(__name__)


@shared_task(name="tutor.refit_concept_params", acks_late=True)
def refit_concept_params(course_id: int) -> int:
    """Refit one course's knowledge-tracing parameters; returns how many concepts were fitted."""
    course = Course.objects.filter(pk=course_id).first()
    if course is None:
        return 0
    return len(services.concept_params_refit(course=course))


@shared_task(name="tutor.refit_all_courses")
def refit_all_courses() -> int:
    """Nightly: one refit task per published course."""
    ids = list(Course.objects.published().values_list("pk", flat=True))
    for course_id in ids:
        refit_concept_params.delay(course_id)
    return len(ids)


@shared_task(
    bind=True,
    name="tutor.index_course_version",
    acks_late=True,
    autoretry_for=(ModelUnavailable,),
    retry_backoff=True,
    max_retries=5,
)
def index_course_version(self: Task[[int], int], version_id: int) -> int:
    """Store and embed a published version's passages for the TA's retrieval; returns how many.

    Enqueued after a publish commits. Safe to run twice or at once (redelivery under acks_late,
    a retry, the sweep): `retrieval.index_version` is idempotent on the version id plus the
    passages' hash. When the model worker is down the passages are stored anyway (full-text
    search works) and ModelUnavailable retries the embedding with exponential backoff."""
    return retrieval.index_version(version_id).chunks


def index_after_publish(version_id: int) -> None:
    """Called once a publish commits: queue the indexing. Run eagerly (the embedded mode) with
    the model down, the passages are stored for full-text search and the embedding waits for
    the sweep, without retrying in the request that published."""
    from django.conf import settings

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        index_course_version.delay(version_id)
        return
    try:
        retrieval.index_version(version_id)
    except ModelUnavailable:
        log.info("version %s indexed for full text; embeddings wait for the model", version_id)


@shared_task(name="tutor.index_pending_course_versions")
def index_pending_course_versions() -> int:
    """Periodic sweep: re-index the latest versions whose passages are missing or unembedded
    (the worker was down for longer than the task's retries)."""
    ids = retrieval.versions_needing_index()
    for version_id in ids:
        index_course_version.delay(version_id)
    return len(ids)


GRADING_PROMPT = """Grade a student's short answer against the instructor's rubric.
Question: {prompt}
Accepted answers: {accepted}
Rubric: {rubric}
Student's answer: {answer}
Reply with JSON only: {{"correct": true or false, "feedback": "one sentence for the student"}}"""


@shared_task(
    name="tutor.grade_short_answer",
    acks_late=True,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    max_retries=3,
)
def grade_short_answer(attempt_id: int) -> str:
    """Grade a pending short answer with the model against the rubric; returns the grading.
    Idempotent: an attempt already graded is left as it is."""
    from tutor.models import Attempt

    attempt = Attempt.objects.select_related("course_version").filter(pk=attempt_id).first()
    if attempt is None or attempt.grading != Attempt.Grading.PENDING:
        return attempt.grading if attempt else "missing"
    from courses.spec import CourseSpec

    spec = CourseSpec.from_json(attempt.course_version.spec)
    step = spec.step(attempt.step_slug)
    exercise = step.exercise(attempt.exercise_slug) if step else None
    verdict = None
    if exercise is not None:
        verdict = model_client.grade(
            GRADING_PROMPT.format(
                prompt=exercise.prompt,
                accepted="; ".join(exercise.accepted),
                rubric=exercise.rubric,
                answer=attempt.answer[:1000],
            )
        )
    return services.attempt_grade_by_rubric(attempt_id=attempt_id, verdict=verdict).grading


@shared_task(name="tutor.summarise_escalation", acks_late=True)
def summarise_escalation(escalation_id: int) -> str:
    """The model's short summary of a new case for the TA desk. Idempotent: a case whose summary
    the model already wrote is skipped. When the model is unreachable the extractive summary
    written at opening stays; nothing is retried, since the TA already has a summary."""
    from tutor import escalations

    return escalations.escalation_summarise(escalation_id=escalation_id)
