"""Endorsed answers: good replies that TAs mark for reuse, preferred by the AI TA's retrieval."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
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


def endorsed_for(
    *, course: Course, allowed_steps: set[str], query: str, k: int = 2
) -> list[EndorsedAnswer]:
    """Live endorsed answers of steps the student may see (or of the whole course) that share
    words with the question, best first (PostgreSQL full text, config "simple")."""
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    words = [w for w in query.split() if len(w) > 2][:20]
    if not words:
        return []
    vector = SearchVector("question", "answer", config="simple")
    query_obj = SearchQuery(" OR ".join(words), search_type="websearch", config="simple")
    found = (
        EndorsedAnswer.objects.filter(course=course, withdrawn_at__isnull=True)
        .filter(Q(step_slug="") | Q(step_slug__in=sorted(allowed_steps)))
        .annotate(rank=SearchRank(vector, query_obj))
        .filter(rank__gt=0)
        .order_by("-rank", "-created_at")[:k]
    )
    return list(found)
