"""The TA desk: the escalation queue, a case with its whole context, and the actions on it; and
the student's "ask a human" button. Access comes from `eureka.access` alone; writes go through
`tutor.escalations`.

Every action is a plain form post that redirects back to the case, so the desk works without
JavaScript; the queue's filters swap only the list when htmx sends them. A conflict (the case is
someone else's, or resolved) answers 409 and bad input 400, both with the case page and the
reason on it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from eureka import access
from eureka.http import AuthenticatedHttpRequest
from tutor import endorsements, escalations, ta
from tutor.models import EndorsedAnswer, Escalation

TEMPLATE = "tutor/escalations/{}.html"
AGES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "1w": timedelta(weeks=1)}
STATES = {"unresolved", "open", "mine", "resolved", "all"}


@require_GET
@login_required
def escalation_queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Filters: course (slug), reason, priority (at least), older (1h, 1d, 1w), state."""
    if not access.navigation_for(request.user).assists:
        raise PermissionDenied("The TA desk is for a course's TAs and instructors.")
    cases = access.escalation_queue(request.user)
    courses = sorted(set(cases.values_list("course__slug", "course__title")))
    chosen = {k: request.GET.get(k, "") for k in ("course", "reason", "priority", "older", "state")}
    state = chosen["state"] if chosen["state"] in STATES else "unresolved"
    if state == "unresolved":
        cases = cases.unresolved()
    elif state == "open":
        cases = cases.filter(state=Escalation.State.OPEN)
    elif state == "mine":
        cases = cases.filter(state=Escalation.State.CLAIMED, claimed_by=request.user)
    elif state == "resolved":
        cases = cases.filter(state=Escalation.State.RESOLVED)
    if chosen["course"]:
        cases = cases.filter(course__slug=chosen["course"])
    if chosen["reason"] in Escalation.Reason.values:
        cases = cases.filter(reason=chosen["reason"])
    if chosen["priority"].isdigit():
        cases = cases.filter(priority__gte=int(chosen["priority"]))
    if chosen["older"] in AGES:
        cases = cases.filter(created_at__lte=timezone.now() - AGES[chosen["older"]])
    chosen["state"] = state
    context = {
        "cases": cases.select_related("course", "student", "claimed_by").by_urgency()[:200],
        "courses": courses,
        "reasons": Escalation.Reason.choices,
        "priorities": Escalation.Priority.choices,
        "ages": [("1h", "an hour"), ("1d", "a day"), ("1w", "a week")],
        "chosen": chosen,
        "now": timezone.now(),
    }
    if request.htmx:
        return render(request, TEMPLATE.format("queue") + "#list", context)
    return render(request, TEMPLATE.format("queue"), context)


@require_GET
@login_required
def escalation_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    case = access.access_escalation(request.user, pk)
    return _detail(request, case)


def _detail(
    request: AuthenticatedHttpRequest, case: Escalation, *, error: str = "", status: int = 200
) -> HttpResponse:
    conversation = case.conversation
    context: dict[str, Any] = {
        "case": case,
        "snapshot": case.snapshot,
        "messages_now": list(conversation.messages.order_by("created_at", "id")),
        "others": access.escalation_queue(request.user)
        .filter(conversation=conversation)
        .exclude(pk=case.pk)
        .order_by("-created_at")[:10],
        "resolutions": Escalation.Resolution.choices,
        "holds": case.claimed_by_id == request.user.pk,
        "error": error,
        "max_chars": ta.MAX_MESSAGE_CHARS,
        "now": timezone.now(),
        "typed": request.POST.get("text", "") if error else "",
    }
    return render(request, TEMPLATE.format("detail"), context, status=status)


def _act(request: AuthenticatedHttpRequest, pk: int, action: str) -> HttpResponse:
    case = access.access_escalation(request.user, pk)
    try:
        if action == "claim":
            escalations.escalation_claim(escalation=case, user=request.user)
            messages.success(request, "You hold this case now.")
        elif action == "release":
            escalations.escalation_release(escalation=case, user=request.user)
            messages.success(request, "The case is back in the queue.")
        elif action == "reply":
            link = request.build_absolute_uri(
                reverse("step_page", kwargs={"slug": case.course.slug, "step": case.step_slug})
                if case.step_slug
                else case.course.get_absolute_url()
            )
            escalations.escalation_reply(
                escalation=case, user=request.user, text=request.POST.get("text", ""), link=link
            )
            messages.success(request, "Your reply is in the student's chat.")
        elif action == "resolve":
            escalations.escalation_resolve(
                escalation=case,
                user=request.user,
                resolution=request.POST.get("resolution", ""),
                note=request.POST.get("note", ""),
            )
            messages.success(request, "Case resolved.")
            return redirect("escalation_queue")
    except escalations.EscalationConflict as conflict:
        case.refresh_from_db()
        return _detail(request, case, error=str(conflict), status=409)
    except ValidationError as invalid:
        return _detail(request, case, error=" ".join(invalid.messages), status=400)
    return redirect("escalation_detail", pk=case.pk)


@require_POST
@login_required
def escalation_claim(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "claim")


@require_POST
@login_required
def escalation_release(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "release")


@require_POST
@login_required
def escalation_reply(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "reply")


@require_POST
@login_required
def escalation_resolve(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "resolve")


@require_POST
@login_required
def ask_human(request: AuthenticatedHttpRequest, slug: str, step: str = "") -> HttpResponse:
    """The student's "ask a human TA" button in the TA panel of a step (or of the course)."""
    study = access.access_course_for_study(request.user, slug)
    if step:
        access.access_step_for_study(request.user, study, step)
    conversation = ta.conversation_for(request.user, study.course, step)
    escalations.escalation_request_human(
        conversation=conversation, note=request.POST.get("note", "")
    )
    messages.success(request, "A human TA has been asked. Their answer will appear in this chat.")
    back = (
        reverse("step_page", kwargs={"slug": slug, "step": step})
        if step
        else study.course.get_absolute_url()
    )
    return redirect(f"{back}#ta")


@require_POST
@login_required
def message_endorse(request: AuthenticatedHttpRequest, pk: int, message_id: int) -> HttpResponse:
    """Endorse one reply of the case's conversation for reuse by the AI TA."""
    case = access.access_escalation(request.user, pk)
    message = case.conversation.messages.filter(pk=message_id).first()
    if message is None:
        raise Http404("No such message in this conversation.")
    try:
        endorsements.endorsement_create(message=message, user=request.user)
    except ValidationError as error:
        return _detail(request, case, error=" ".join(error.messages), status=400)
    messages.success(request, "Endorsed: the AI TA will draw on this answer.")
    return redirect("escalation_detail", pk=case.pk)


@require_GET
@login_required
def course_endorsements(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The course's endorsed answers, for its instructors to review and withdraw."""
    course = access.access_course_for_edit(request.user, slug)
    items = EndorsedAnswer.objects.filter(course=course).select_related("endorsed_by")
    return render(request, TEMPLATE.format("endorsements"), {"course": course, "items": items})


@require_POST
@login_required
def endorsement_withdraw(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    course = access.access_course_for_edit(request.user, slug)
    endorsement = EndorsedAnswer.objects.filter(course=course, pk=pk).first()
    if endorsement is None:
        raise Http404("No such endorsed answer.")
    endorsements.endorsement_withdraw(endorsement=endorsement, user=request.user)
    messages.success(request, "Withdrawn: the AI TA no longer draws on this answer.")
    return redirect("course_endorsements", slug=slug)
