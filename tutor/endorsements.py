"""Endorsed answers: good replies that TAs mark for reuse, preferred by the AI TA's retrieval."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from eureka import access
from tutor.models import EndorsedAnswer, Message


@transaction.atomic
def endorsement_create(*, message: Message, user: User) -> EndorsedAnswer:
    """Endorse a TA reply (human or AI) for its step, paired with the student question it
    answered. Only the course's TAs, instructors and staff may; endorsing twice changes nothing."""
    conversation = message.conversation
    if not access.can_assist_course(user, conversation.course):
        raise PermissionDenied("Only the course's TAs and instructors may endorse answers.")
    if message.role not in (Message.Role.HUMAN, Message.Role.ASSISTANT) or not message.content:
        raise ValidationError("Only a TA's reply can be endorsed.")
    existing = EndorsedAnswer.objects.filter(message=message, withdrawn_at__isnull=True).first()
    if existing is not None:
        return existing
    question = (
        conversation.messages.filter(role=Message.Role.STUDENT, created_at__lte=message.created_at)
        .order_by("-created_at")
        .first()
    )
    return EndorsedAnswer.objects.create(
        course=conversation.course,
        step_slug=conversation.step_slug,
        question=question.content if question else "",
        answer=message.content,
        message=message,
        endorsed_by=user,
    )


@transaction.atomic
def endorsement_withdraw(*, endorsement: EndorsedAnswer, user: User) -> EndorsedAnswer:
    if not access.can_edit_course(user, endorsement.course):
        raise PermissionDenied("Only the course's instructors may withdraw endorsed answers.")
    if endorsement.withdrawn_at is None:
        endorsement.withdrawn_at, endorsement.withdrawn_by = timezone.now(), user
        endorsement.save(update_fields=["withdrawn_at", "withdrawn_by"])
    return endorsement


# The document is what Django's SearchVector("question", "answer", config="simple") builds.
_ENDORSED_SQL = """
SELECT e.* FROM tutor_endorsedanswer e,
     websearch_to_tsquery('simple'::regconfig, %(query)s) AS q,
     ts_rank(to_tsvector('simple'::regconfig,
                         COALESCE(e.question, '') || ' ' || COALESCE(e.answer, '')), q) AS rank
WHERE e.course_id = %(course)s AND e.withdrawn_at IS NULL
  AND (e.step_slug = '' OR e.step_slug = ANY(%(steps)s)) AND rank > 0
ORDER BY rank DESC, e.created_at DESC
LIMIT %(k)s"""


def endorsed_for(
    *, course: Course, allowed_steps: set[str], query: str, k: int = 2
) -> list[EndorsedAnswer]:
    """Live endorsed answers of steps the student may see (or of the whole course) that share
    words with the question, best first (PostgreSQL full text, config "simple"). One raw
    statement: a TA turn waits on it, and building the query as a queryset cost more than
    running it."""
    words = [w for w in query.split() if len(w) > 2][:20]
    if not words:
        return []
    params = {
        "query": " OR ".join(words),
        "course": course.pk,
        "steps": sorted(allowed_steps),
        "k": k,
    }
    return list(EndorsedAnswer.objects.raw(_ENDORSED_SQL, params))
