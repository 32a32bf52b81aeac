"""The student's side of the learner model: the placement probe, the suggested next exercise,
and the "what I know" page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from courses.answers import AnswerInvalid
from eureka import access
from eureka.http import AuthenticatedHttpRequest
from tutor import charts, learner, progress, services
from tutor.models import Attempt, ConceptMastery, PlacementProbe


@require_GET
@login_required
def placement(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The probe's current question; or, with none in progress, the last result and the choice
    to start (or redo) or skip."""
    study = access.access_course_for_study(request.user, slug)
    probe = PlacementProbe.objects.filter(user=request.user, course=study.course).first()
    return _placement_page(request, study, probe)


@require_POST
@login_required
def placement_action(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = access.access_course_for_study(request.user, slug)
    action = request.POST.get("action")
    if action == "skip":
        probe = services.placement_skip(
            user=request.user, course=study.course, version=study.version
        )
        messages.info(request, probe.explanation)
        return redirect("course_continue", slug=slug)
    if action == "start":
        services.placement_start(
            user=request.user,
            course=study.course,
            version=study.version,
            chapter_slug=request.POST.get("chapter", ""),
        )
        return redirect("placement", slug=slug)
    if action != "answer":
        return HttpResponse("Unknown action: use start, answer or skip.", status=400)
    current = PlacementProbe.objects.filter(user=request.user, course=study.course).first()
    typed = request.POST.get("answer", "")[:2000]
    try:
        probe = services.placement_answer(
            user=request.user,
            probe_id=current.pk if current else -1,
            question_number=_int(request.POST.get("question")),
            step_slug=request.POST.get("step", ""),
            probe_slug=request.POST.get("probe", ""),
            answer=typed,
        )
    except services.PlacementRejected as rejected:
        return _placement_page(request, study, current, error=str(rejected), status=409)
    except AnswerInvalid as invalid:
        return _placement_page(request, study, current, error=str(invalid), typed=typed, status=422)
    if probe.state != PlacementProbe.State.ACTIVE:
        messages.success(request, probe.explanation)
        return redirect("course_continue", slug=slug)
    return redirect("placement", slug=slug)


def _placement_page(
    request: AuthenticatedHttpRequest,
    study: access.Study,
    probe: PlacementProbe | None,
    *,
    error: str = "",
    typed: str = "",
    status: int = 200,
) -> HttpResponse:
    question = None
    if probe is not None and probe.state == PlacementProbe.State.ACTIVE:
        step = study.spec.step(probe.current_step_slug)
        question = (
            next((p for p in step.probes if p.slug == probe.current_probe_slug), None)
            if step
            else None
        )
    chapter = request.GET.get("chapter", "")
    context = {
        "course": study.course,
        "chapter": next((c for c in study.spec.chapters if c.slug == chapter), None),
        "probe": probe,
        "question": question,
        "error": error,
        "typed": typed,
        "cap": learner.PROBE_CAP,
    }
    return render(request, "tutor/placement.html", context, status=status)


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1


@require_GET
@login_required
def next_exercise(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Go to the suggested exercise, with the reason shown at the top of the page."""
    study = access.access_course_for_study(request.user, slug)
    suggestion = services.next_activity_for(user=request.user, course=study.course, spec=study.spec)
    if suggestion is None:
        messages.success(
            request, "You have mastered every concept of this course. Review anything you like."
        )
        return redirect(study.course)
    messages.info(request, suggestion.reason)
    page = reverse("step_page", kwargs={"slug": slug, "step": suggestion.step_slug})
    return redirect(f"{page}#ex-{suggestion.exercise_slug}")


@dataclass(frozen=True)
class ConceptRow:
    slug: str
    name: str
    p: float | None
    due: datetime | None


@require_GET
@login_required
def what_i_know(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = access.access_course_for_study(request.user, slug)
    user, course = request.user, study.course
    rows = {r.concept_slug: r for r in ConceptMastery.objects.filter(user=user, course=course)}
    graph = learner.ConceptGraph.from_spec(study.spec)
    concepts = [
        ConceptRow(
            c,
            graph.names[c],
            rows[c].p_known if c in rows else None,
            rows[c].review_due if c in rows else None,
        )
        for c in graph.order
    ]
    now = timezone.now()
    answers = Attempt.objects.filter(user=user, course_version__course=course)
    statuses = progress.ramp_status(
        study.spec,
        progress.solved_exercises(user, course),
        progress.mastered_concepts(user, course),
    )
    context = {
        "course": course,
        "concepts": concepts,
        "graph_svg": charts.mastery_graph_svg(study.spec, {c.slug: c.p for c in concepts}),
        "history_svg": charts.progress_svg(list(answers.values_list("created_at", "correct"))),
        "due": [c for c in concepts if c.due is not None and c.due <= now],
        "mastered": sum(1 for c in concepts if (c.p or 0.0) >= learner.MASTERY_THRESHOLD),
        "suggestion": services.next_activity_for(user=user, course=course, spec=study.spec),
        "placement": PlacementProbe.objects.filter(user=user, course=course).first(),
        "done": sum(s.state == progress.StepState.DONE for s in statuses),
    }
    return render(request, "tutor/what_i_know.html", context)
