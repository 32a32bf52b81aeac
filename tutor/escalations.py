"""Escalations: cases where a human TA takes over from the AI TA. Every write about a case goes
through a function here; views and hooks call them.

A case opens when the student asks for a person (a button, or plain words), is stuck (an
exercise failed three times in a row, or every hint used without success), the guard tripped
twice in the conversation, grading could not decide, the AI TA could not answer (the course
material has nothing relevant to a question, or the model says it does not know), a message
shows frustration, or a message raises a safety concern (top priority). One unresolved case per
conversation and reason: a trigger that fires again while its case is open changes nothing.

Each case stores a snapshot of the student's situation when it opened (the last messages, step,
exercise, attempts, mastery) and a short summary: extracted from the snapshot at once, then
rewritten by the course's model in a Celery task when the model is reachable.

The hooks in the TA turn and in attempt handling call the `check_*` functions through `safely`:
failing to open a case is logged and never costs the student their turn or their attempt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from courses import selectors
from courses.spec import CourseSpec, StepSpec
from tutor import model_client, ta
from tutor.models import (
    Attempt,
    ConceptMastery,
    Conversation,
    Enrollment,
    Escalation,
    ExerciseProgress,
    Message,
    Role,
)
from tutor.notifications import notify_user, send_after_commit

log = logging.getLogger(__name__)

Reason = Escalation.Reason
Priority = Escalation.Priority

FAILS_IN_A_ROW = 3
GUARD_TRIPS = 2
SNAPSHOT_MESSAGES = 12
SNAPSHOT_ATTEMPTS = 10
# A student who wrote to the TA this recently is taken to be in front of the chat; otherwise a
# human TA's reply also goes out by email.
ONLINE_WINDOW = timedelta(minutes=5)

PRIORITY = {
    Reason.SAFETY: Priority.URGENT,
    Reason.ASKED: Priority.HIGH,
    Reason.FRUSTRATION: Priority.HIGH,
}

_ASKS_FOR_HUMAN = re.compile(
    r"\b(talk|speak|chat|write)\s+(to|with)\s+(a\s+|an\s+|some\s*one\s*|the\s+)?"
    r"(real\s+|human\s+|actual\s+)?(human|person|people|ta|tutor|teacher|instructor|someone)\b"
    r"|\b(human|real)\s+(ta|tutor|person|being)\b"
    r"|\b(need|want|get|ask\s+for)\s+(a\s+)?(human|person)\b",
    re.IGNORECASE,
)
_FRUSTRATION = re.compile(
    r"\b(frustrat\w*|give\s+up|giving\s+up|i\s+hate\s+this|this\s+is\s+(stupid|pointless|"
    r"hopeless|impossible)|makes\s+no\s+sense|so\s+confused|i'?m\s+lost|i\s+am\s+lost|useless|"
    r"wtf|annoy\w*|i\s+can'?t\s+do\s+this|fed\s+up|sick\s+of\s+this)\b",
    re.IGNORECASE,
)
# The AI TA saying it cannot help: the model's own words, in the reply it generated.
_DOES_NOT_KNOW = re.compile(
    r"\b(i\s+(really\s+)?(don'?t|do\s+not)\s+know|i'?m\s+not\s+sure|i\s+am\s+not\s+sure|"
    r"i\s+(can'?t|cannot|am\s+unable\s+to|am\s+not\s+able\s+to)\s+(answer|help\s+with)|"
    r"no\s+idea|beyond\s+what\s+i\s+know)\b",
    re.IGNORECASE,
)
# A question worth an answer from the course: a question mark or a question word, and a few words.
_QUESTION = re.compile(
    r"\?|^\s*(what|why|how|when|where|which|who|is|are|does|do|can|could|should|would|"
    r"explain)\b",
    re.IGNORECASE,
)
QUESTION_MIN_WORDS = 4
_SAFETY = re.compile(
    r"\b(kill(ing)?\s+myself|suicid\w*|self[-\s]?harm\w*|hurt(ing)?\s+myself|end\s+my\s+life|"
    r"want\s+to\s+die|cut(ting)?\s+myself|harass\w*|bull(y|ied|ying)|threaten\w*|stalk\w*|"
    r"abus(e|ed|ing|ive))\b",
    re.IGNORECASE,
)


class EscalationConflict(Exception):
    """The case is not in a state that allows this: claimed by someone else, or resolved."""


def safely(check: Callable[..., Any], **kwargs: Any) -> None:
    """Run an escalation check from a hook; any failure is logged, never raised."""
    try:
        check(**kwargs)
    except Exception:
        log.exception("escalation check %s failed", getattr(check, "__name__", check))


def reasons_in_words(text: str) -> list[Escalation.Reason]:
    """The triggers in a student's message, most urgent first."""
    found = []
    if _SAFETY.search(text):
        found.append(Reason.SAFETY)
    if _ASKS_FOR_HUMAN.search(text):
        found.append(Reason.ASKED)
    if _FRUSTRATION.search(text):
        found.append(Reason.FRUSTRATION)
    return found


# ---------------------------------------------------------------------------------------------
# Opening


def _spec_step(conversation: Conversation) -> tuple[CourseSpec | None, StepSpec | None]:
    version = selectors.latest_version(conversation.course)
    spec = selectors.version_spec(version) if version else None
    step = spec.step(conversation.step_slug) if spec and conversation.step_slug else None
    return spec, step


def _current_exercise_slug(conversation: Conversation, step: StepSpec | None) -> str:
    """The unsolved exercise the student touched last in the step, else its first one."""
    if step is None or not step.exercises:
        return ""
    row = (
        ExerciseProgress.objects.filter(
            user=conversation.user,
            course=conversation.course,
            step_slug=step.slug,
            solved=False,
        )
        .order_by("-updated_at")
        .first()
    )
    return row.exercise_slug if row else step.exercises[0].slug


def snapshot_for(conversation: Conversation, exercise_slug: str = "") -> dict[str, Any]:
    """The student's situation now: last messages, step, exercise, attempts and mastery."""
    spec, step = _spec_step(conversation)
    exercise_slug = exercise_slug or _current_exercise_slug(conversation, step)
    exercise = step.exercise(exercise_slug) if step else None
    messages = list(
        conversation.messages.filter(complete=True).order_by("-created_at", "-id")[
            :SNAPSHOT_MESSAGES
        ]
    )[::-1]
    progress_row = (
        ExerciseProgress.objects.filter(
            user=conversation.user,
            course=conversation.course,
            step_slug=conversation.step_slug,
            exercise_slug=exercise_slug,
        ).first()
        if exercise_slug
        else None
    )
    attempts = (
        list(
            Attempt.objects.filter(
                user=conversation.user,
                course_version__course=conversation.course,
                step_slug=conversation.step_slug,
                exercise_slug=exercise_slug,
                is_probe=False,
            ).order_by("-created_at")[:SNAPSHOT_ATTEMPTS]
        )[::-1]
        if exercise_slug
        else []
    )
    names = {c.slug: c.name for c in spec.concepts} if spec else {}
    concepts = set(step.teaches + step.requires) if step else None
    mastery = {
        names.get(m.concept_slug, m.concept_slug): round(m.p_known, 3)
        for m in ConceptMastery.objects.filter(user=conversation.user, course=conversation.course)
        if concepts is None or m.concept_slug in concepts
    }
    return {
        "messages": [
            {"role": m.role, "text": m.content[:2000], "at": m.created_at.isoformat()}
            for m in messages
        ],
        "step": {"slug": step.slug, "title": step.title} if step else None,
        "exercise": (
            {
                "slug": exercise.slug,
                "prompt": exercise.prompt,
                "hints_total": len(exercise.hints),
                "hints_revealed": progress_row.hints_revealed if progress_row else 0,
                "attempts": progress_row.attempts if progress_row else 0,
                "solved": progress_row.solved if progress_row else False,
                "solution_viewed": progress_row.solution_viewed if progress_row else False,
            }
            if exercise
            else None
        ),
        "attempts": [
            {
                "answer": a.answer[:500],
                "correct": a.correct,
                "grading": a.grading,
                "hints_used": a.hints_used,
                "at": a.created_at.isoformat(),
            }
            for a in attempts
        ],
        "mastery": mastery,
    }


def extractive_summary(reason: Escalation.Reason, snapshot: dict[str, Any], trigger: str) -> str:
    """A few sentences taken from the snapshot itself (no model): why, where, how it went, and
    what the student last said."""
    parts = [f"{reason.label}."]
    step, exercise = snapshot.get("step"), snapshot.get("exercise")
    if step:
        parts.append(f"Step: {step['title']}.")
    if exercise:
        tried = snapshot.get("attempts", [])
        right = sum(1 for a in tried if a["correct"])
        parts.append(
            f"Exercise {exercise['slug']}: {exercise['attempts']} attempt(s), {right} correct "
            f"of the last {len(tried)}; {exercise['hints_revealed']} of "
            f"{exercise['hints_total']} hints; {'solved' if exercise['solved'] else 'unsolved'}."
        )
    said = [m["text"] for m in snapshot.get("messages", []) if m["role"] == "student"]
    quote = trigger or (said[-1] if said else "")
    if quote:
        quote = " ".join(quote.split())
        parts.append(f'The student wrote: "{quote[:280]}{"…" if len(quote) > 280 else ""}"')
    return " ".join(parts)


@transaction.atomic
def escalation_open(
    *,
    conversation: Conversation,
    reason: Escalation.Reason,
    trigger: str = "",
    exercise_slug: str = "",
    attempt: Attempt | None = None,
) -> Escalation:
    """Open a case for the conversation, or return the unresolved one already open for this
    reason (dedupe). The course's TAs and instructors are notified after commit."""
    # The conversation's row lock serialises two triggers of the same reason (two tabs, a turn
    # and an attempt): the second sees the first's case instead of tripping the constraint.
    Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
    existing = (
        Escalation.objects.unresolved().filter(conversation=conversation, reason=reason).first()
    )
    if existing is not None:
        return existing
    snapshot = snapshot_for(conversation, exercise_slug)
    exercise = snapshot.get("exercise")
    escalation = Escalation.objects.create(
        course=conversation.course,
        conversation=conversation,
        student=conversation.user,
        step_slug=conversation.step_slug,
        exercise_slug=exercise["slug"] if exercise else "",
        attempt=attempt,
        reason=reason,
        priority=PRIORITY.get(reason, Priority.NORMAL),
        trigger=trigger[:2000],
        snapshot=snapshot,
        summary=extractive_summary(reason, snapshot, trigger),
    )
    _notify_staff(escalation)
    from tutor.tasks import summarise_escalation  # imported here: tasks build on this module

    pk = escalation.pk
    transaction.on_commit(lambda: summarise_escalation.delay(pk), robust=True)
    return escalation


SUMMARY_PROMPT = """Summarise this case for a human teaching assistant in at most two sentences:
what the student needs and what they have tried. Reply with the summary only.
{facts}"""
SUMMARY_MAX_CHARS = 600


def escalation_summarise(*, escalation_id: int) -> str:
    """Replace the extractive summary with the model's (once: a redelivered task finds it
    done). Returns "model", "extractive" (the model was unreachable or its reply unusable: the
    extracted summary stays) or "skipped"."""
    escalation = Escalation.objects.filter(pk=escalation_id).first()
    if escalation is None or escalation.summary_by_model:
        return "skipped"
    facts = extractive_summary(
        Escalation.Reason(escalation.reason), escalation.snapshot, escalation.trigger
    )
    reply = model_client.complete(SUMMARY_PROMPT.format(facts=facts), max_tokens=120)
    summary = " ".join("".join(c for c in (reply or "") if c.isprintable()).split())
    if len(summary.split()) < 3:
        return "extractive"
    with transaction.atomic():
        row = Escalation.objects.select_for_update().get(pk=escalation_id)
        if row.summary_by_model:
            return "skipped"
        row.summary = summary[:SUMMARY_MAX_CHARS]
        row.summary_by_model = True
        row.save(update_fields=["summary", "summary_by_model", "updated_at"])
    return "model"


def _notify_staff(escalation: Escalation) -> None:
    payload = {
        "type": "escalation",
        "id": escalation.pk,
        "reason": escalation.get_reason_display(),
        "priority": escalation.get_priority_display(),
        "course": escalation.course.title,
        "url": reverse("escalation_detail", kwargs={"pk": escalation.pk}),
    }
    staff = Enrollment.objects.filter(
        course=escalation.course, role__in=(Role.TA, Role.INSTRUCTOR)
    ).values_list("user_id", flat=True)
    for user_id in staff:
        notify_user(user_id=user_id, payload=payload)


# ---------------------------------------------------------------------------------------------
# Triggers (called from the TA turn and from attempt handling, through `safely`)


def check_student_words(*, message_id: int) -> list[Escalation]:
    """Open a case for each trigger in the student's message (asks for a human, frustration,
    a safety concern)."""
    message = Message.objects.select_related("conversation__course", "conversation__user").get(
        pk=message_id
    )
    if message.role != Message.Role.STUDENT:
        return []
    return [
        escalation_open(conversation=message.conversation, reason=reason, trigger=message.content)
        for reason in reasons_in_words(message.content)
    ]


def is_question(text: str) -> bool:
    return bool(_QUESTION.search(text)) and len(text.split()) >= QUESTION_MIN_WORDS


def check_unanswered(*, message_id: int) -> Escalation | None:
    """The student asked a question and retrieval found nothing relevant in the course (nor an
    endorsed answer): a person should look at it. The caller decides that nothing was found."""
    message = Message.objects.select_related("conversation__course", "conversation__user").get(
        pk=message_id
    )
    if message.role != Message.Role.STUDENT or not is_question(message.content):
        return None
    return escalation_open(
        conversation=message.conversation,
        reason=Reason.UNANSWERED,
        trigger=f"Nothing in the course material matched the question: {message.content}",
    )


def may_open_after_turn(text: str, flags: dict[str, Any], model: str) -> bool:
    """Whether `check_after_turn` can open a case after this reply: it says it does not know,
    or the guard replaced it (the guard's count of trips only grows with such a reply). The
    turn asks this first: most replies need no look at the conversation at all."""
    return bool(flags.get("guard_tripped")) or _does_not_know(text, flags, model)


def _does_not_know(text: str, flags: dict[str, Any], model: str) -> bool:
    # Only the model's own words: authored text (generation off) is the course speaking.
    return bool(model and not flags.get("generation_off") and _DOES_NOT_KNOW.search(text))


def check_after_turn(*, conversation_id: int) -> Escalation | None:
    """Open a case when the AI TA's last reply says it does not know the answer, or when the
    guard has tripped GUARD_TRIPS times or more in the conversation."""
    conversation = Conversation.objects.select_related("course", "user").get(pk=conversation_id)
    last = (
        conversation.messages.filter(role=Message.Role.ASSISTANT, complete=True)
        .order_by("-created_at", "-id")
        .first()
    )
    if last is not None and _does_not_know(last.content, last.flags, last.model):
        escalation_open(
            conversation=conversation,
            reason=Reason.UNANSWERED,
            trigger=f"The AI TA said it could not answer: {last.content[:500]}",
        )
    trips = conversation.messages.filter(
        role=Message.Role.ASSISTANT, flags__guard_tripped=True
    ).count()
    if trips < GUARD_TRIPS:
        return None
    return escalation_open(
        conversation=conversation,
        reason=Reason.GUARD,
        trigger=f"The guard replaced {trips} of the AI TA's replies.",
    )


def check_after_attempt(*, attempt_id: int) -> list[Escalation]:
    """After an attempt is stored or graded: grading that could not decide; an exercise failed
    FAILS_IN_A_ROW times in a row; every hint used and still wrong."""
    attempt = Attempt.objects.select_related("course_version__course", "user").get(pk=attempt_id)
    if attempt.is_probe or attempt.grading == Attempt.Grading.PENDING:
        return []
    course = attempt.course_version.course
    where = f"{attempt.step_slug}/{attempt.exercise_slug}"

    def open_case(reason: Escalation.Reason, trigger: str) -> Escalation:
        # The case lives in the step's conversation, so the TA's reply lands where the student
        # works; it is created only when a case opens.
        return escalation_open(
            conversation=ta.conversation_for(attempt.user, course, attempt.step_slug),
            reason=reason,
            trigger=trigger,
            exercise_slug=attempt.exercise_slug,
            attempt=attempt,
        )

    opened = []
    if attempt.grading == Attempt.Grading.NEEDS_TA:
        opened.append(open_case(Reason.GRADING, f"Ungraded answer on {where}: {attempt.answer}"))
        return opened
    progress_row = ExerciseProgress.objects.filter(
        user=attempt.user,
        course=course,
        step_slug=attempt.step_slug,
        exercise_slug=attempt.exercise_slug,
    ).first()
    if attempt.correct or (progress_row is not None and progress_row.solved):
        return opened
    recent = list(
        Attempt.objects.filter(
            user=attempt.user,
            course_version__course=course,
            step_slug=attempt.step_slug,
            exercise_slug=attempt.exercise_slug,
            is_probe=False,
        )
        .exclude(grading=Attempt.Grading.PENDING)
        .order_by("-created_at", "-id")
        .values_list("correct", flat=True)[:FAILS_IN_A_ROW]
    )
    if len(recent) == FAILS_IN_A_ROW and not any(recent):
        opened.append(
            open_case(
                Reason.FAILED_REPEATEDLY, f"{FAILS_IN_A_ROW} wrong answers in a row on {where}."
            )
        )
    step = CourseSpec.from_json(attempt.course_version.spec).step(attempt.step_slug)
    exercise = step.exercise(attempt.exercise_slug) if step else None
    if exercise is not None and exercise.hints and attempt.hints_used >= len(exercise.hints):
        opened.append(
            open_case(
                Reason.HINTS_EXHAUSTED, f"Wrong after all {len(exercise.hints)} hints on {where}."
            )
        )
    return opened


def escalation_request_human(*, conversation: Conversation, note: str = "") -> Escalation:
    """The student pressed "ask a human" in the TA panel."""
    return escalation_open(
        conversation=conversation,
        reason=Reason.ASKED,
        trigger=note.strip()[: ta.MAX_MESSAGE_CHARS] or "Asked for a human TA (button).",
    )


# ---------------------------------------------------------------------------------------------
# Working a case


def _locked(escalation: Escalation) -> Escalation:
    return (
        Escalation.objects.select_for_update(of=("self",))
        .select_related("conversation", "course", "student", "claimed_by")
        .get(pk=escalation.pk)
    )


def _check_workable(escalation: Escalation, user: User) -> None:
    if escalation.state == Escalation.State.RESOLVED:
        raise EscalationConflict("This case is resolved.")
    if escalation.state == Escalation.State.CLAIMED and escalation.claimed_by_id != user.pk:
        holder = escalation.claimed_by.get_username() if escalation.claimed_by else "another TA"
        raise EscalationConflict(f"{holder} has claimed this case.")


@transaction.atomic
def escalation_claim(*, escalation: Escalation, user: User) -> Escalation:
    """Take the case. Two TAs can never hold one case: the row lock makes concurrent claims
    wait, and the loser then sees the winner's claim and gets EscalationConflict."""
    escalation = _locked(escalation)
    if escalation.state == Escalation.State.CLAIMED and escalation.claimed_by_id == user.pk:
        return escalation
    _check_workable(escalation, user)
    escalation.state = Escalation.State.CLAIMED
    escalation.claimed_by, escalation.claimed_at = user, timezone.now()
    escalation.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
    return escalation


@transaction.atomic
def escalation_release(*, escalation: Escalation, user: User) -> Escalation:
    """Give the case back to the queue; only its holder may."""
    escalation = _locked(escalation)
    if escalation.state != Escalation.State.CLAIMED or escalation.claimed_by_id != user.pk:
        raise EscalationConflict("Only the TA who holds this case can release it.")
    escalation.state = Escalation.State.OPEN
    escalation.claimed_by, escalation.claimed_at = None, None
    escalation.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
    return escalation


def student_online(user_id: int) -> bool:
    since = timezone.now() - ONLINE_WINDOW
    return Message.objects.filter(
        conversation__user_id=user_id, role=Message.Role.STUDENT, created_at__gte=since
    ).exists()


@transaction.atomic
def escalation_reply(*, escalation: Escalation, user: User, text: str, link: str = "") -> Message:
    """Answer the student as a human TA. Replying to an open case claims it. The reply is a
    message of the conversation (so it waits there if the student's socket is down); after
    commit it goes live to every open tab of the chat and to the student's notifications, and
    by email when the student has not been active recently."""
    text = text.strip()
    if not text:
        raise ValidationError("Write a reply first.")
    if len(text) > ta.MAX_MESSAGE_CHARS:
        raise ValidationError(f"A reply is at most {ta.MAX_MESSAGE_CHARS} characters.")
    escalation = _locked(escalation)
    _check_workable(escalation, user)
    if escalation.state == Escalation.State.OPEN:
        escalation.state = Escalation.State.CLAIMED
        escalation.claimed_by, escalation.claimed_at = user, timezone.now()
        escalation.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
    conversation = escalation.conversation
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.HUMAN,
        content=text,
        author=user,
        flags={"escalation": escalation.pk, "human_ta": user.get_username()},
    )
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    send_after_commit(group=ta.group_name(conversation.pk), event=ta.reply_event(message))
    course = escalation.course
    where = _place(course.slug, conversation.step_slug)
    notify_user(
        user_id=escalation.student_id,
        payload={
            "type": "ta_reply",
            "from": "Human TA",
            "course": course.title,
            "text": text[:280],
            "url": where,
        },
    )
    if not student_online(escalation.student_id) and escalation.student.email:
        subject = f"A human TA answered you in {course.title}"
        body = f"{text}\n\n— {user.get_username()}, Human TA\n\nContinue: {link or where}\n"
        recipient = escalation.student.email
        transaction.on_commit(
            lambda: send_mail(subject, body, None, [recipient], fail_silently=True)
        )
    return message


def _place(course_slug: str, step_slug: str) -> str:
    if step_slug:
        return reverse("step_page", kwargs={"slug": course_slug, "step": step_slug}) + "#ta"
    return reverse("course_detail", kwargs={"slug": course_slug})


@transaction.atomic
def escalation_resolve(
    *, escalation: Escalation, user: User, resolution: str, note: str = ""
) -> Escalation:
    """Close the case with a category. An open case may be resolved by any TA of the course; a
    claimed one only by its holder."""
    if resolution not in Escalation.Resolution.values:
        raise ValidationError("Choose how the case was resolved.")
    escalation = _locked(escalation)
    _check_workable(escalation, user)
    escalation.state = Escalation.State.RESOLVED
    escalation.resolution, escalation.resolution_note = resolution, note.strip()[:2000]
    escalation.resolved_by, escalation.resolved_at = user, timezone.now()
    escalation.save(
        update_fields=[
            "state",
            "resolution",
            "resolution_note",
            "resolved_by",
            "resolved_at",
            "updated_at",
        ]
    )
    return escalation
