from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from courses.answers import AnswerInvalid
from courses.spec import ExerciseSpec, StepSpec
from eureka import access
from eureka.http import AuthenticatedHttpRequest
from tutor import progress, services, ta, translation
from tutor.models import Attempt, Enrollment, ExerciseProgress, Role
from tutor.prompting import LANGUAGE_NAMES


@require_GET
@login_required
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    enrollments = Enrollment.objects.for_user(request.user).order_by("course__title")
    by_role = {role: [e for e in enrollments if e.role == role] for role in Role}
    context = {
        "learning": by_role[Role.STUDENT],
        "teaching": by_role[Role.INSTRUCTOR],
        "assisting": by_role[Role.TA],
    }
    return render(request, "tutor/dashboard.html", context)


@require_POST
@login_required
def course_enroll(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    course = access.access_course(request.user, slug)
    try:
        services.enrollment_create(user=request.user, course=course)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(course)
    messages.success(request, f"You are enrolled in {course.title}.")
    if course.versions.exists():
        return redirect("placement", slug=course.slug)
    return redirect(course)


@require_GET
@login_required
def course_continue(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Back to the student's place: the step they were on, else the first open step."""
    study = access.access_course_for_study(request.user, slug)
    statuses = progress.ramp_status(
        study.spec,
        progress.solved_exercises(request.user, study.course),
        progress.mastered_concepts(request.user, study.course),
    )
    current = study.enrollment.current_step_slug if study.enrollment else ""
    if current and study.spec.step(current):
        target = current
    else:
        open_steps = [s for s in statuses if s.state == progress.StepState.OPEN]
        target = (open_steps or statuses)[0].step.slug
    return redirect("step_page", slug=slug, step=target)


@require_GET
@login_required
def step_page(request: AuthenticatedHttpRequest, slug: str, step: str) -> HttpResponse:
    study = access.access_course_for_study(request.user, slug)
    step_spec = access.access_step_for_study(request.user, study, step)
    return _render_step(request, study, step_spec)


def _render_step(
    request: AuthenticatedHttpRequest,
    study: access.Study,
    step_spec: StepSpec,
    *,
    override: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    progress_by_slug = services.step_visit(
        user=request.user, course=study.course, enrollment=study.enrollment, step=step_spec
    )
    latest = _latest_attempts(request.user, step_spec)
    cards = [
        _card(study, step_spec, e, progress_by_slug.get(e.slug), latest.get(e.slug))
        for e in step_spec.exercises
    ]
    if override is not None:
        cards = [override if c["exercise"].slug == override["exercise"].slug else c for c in cards]
    steps = study.spec.steps()
    index = [s.slug for s in steps].index(step_spec.slug)
    language = request.GET.get("lang", "") if request.method == "GET" else ""
    translated = None
    if language and language in LANGUAGE_NAMES and language != "en":
        translated = translation.translate(step_spec.body, language)
        if translated is None:
            messages.info(
                request,
                "Translation needs the course model, which is not answering right now; "
                "here is the original.",
            )
    context = {
        "course": study.course,
        "version": study.version,
        "step": step_spec,
        "cards": cards,
        "previous": steps[index - 1] if index > 0 else None,
        "next": steps[index + 1] if index + 1 < len(steps) else None,
        "position": index + 1,
        "count": len(steps),
        "ta": ta_panel(request, study.course, step_spec.slug),
        "translated": translated,
        "language": LANGUAGE_NAMES.get(language, ""),
        "offer_language": _offer_language(request, language),
    }
    return render(request, "tutor/step.html", context, status=status)


@require_POST
@login_required
def exercise_attempt(
    request: AuthenticatedHttpRequest, slug: str, step: str, exercise: str
) -> HttpResponse:
    study, step_spec, exercise_spec = _exercise(request, slug, step, exercise)
    answer = request.POST.get("answer", "")
    if len(answer) > 2000:
        return _card_response(
            request,
            study,
            step_spec,
            exercise_spec,
            error="That answer is too long (at most 2000 characters).",
            typed=answer[:2000],
            status=422,
        )
    try:
        outcome = services.attempt_submit(
            user=request.user,
            version=study.version,
            step=step_spec,
            exercise=exercise_spec,
            answer=answer,
        )
    except AnswerInvalid as error:
        return _card_response(
            request, study, step_spec, exercise_spec, error=str(error), typed=answer, status=422
        )
    if not request.htmx:
        messages.info(request, outcome.attempt.feedback)
    return _card_response(request, study, step_spec, exercise_spec)


@require_POST
@login_required
def exercise_hint(
    request: AuthenticatedHttpRequest, slug: str, step: str, exercise: str
) -> HttpResponse:
    study, step_spec, exercise_spec = _exercise(request, slug, step, exercise)
    services.hint_reveal(
        user=request.user, course=study.course, step=step_spec, exercise=exercise_spec
    )
    return _card_response(
        request, study, step_spec, exercise_spec, typed=request.POST.get("answer", "")
    )


@require_POST
@login_required
def exercise_solution(
    request: AuthenticatedHttpRequest, slug: str, step: str, exercise: str
) -> HttpResponse:
    study, step_spec, exercise_spec = _exercise(request, slug, step, exercise)
    try:
        services.solution_open(
            user=request.user, course=study.course, step=step_spec, exercise=exercise_spec
        )
    except services.SolutionLocked as error:
        return _card_response(
            request, study, step_spec, exercise_spec, error=str(error), status=403
        )
    return _card_response(request, study, step_spec, exercise_spec)


# ---------------------------------------------------------------------------------------------


def _exercise(
    request: AuthenticatedHttpRequest, slug: str, step: str, exercise: str
) -> tuple[access.Study, StepSpec, ExerciseSpec]:
    study = access.access_course_for_study(request.user, slug)
    step_spec = access.access_step_for_study(request.user, study, step)
    exercise_spec = step_spec.exercise(exercise)
    if exercise_spec is None:
        raise Http404("No such exercise in this step.")
    return study, step_spec, exercise_spec


def _latest_attempts(user: Any, step: StepSpec) -> dict[str, Attempt]:
    latest: dict[str, Attempt] = {}
    for attempt in Attempt.objects.filter(user=user, step_slug=step.slug).order_by("created_at"):
        latest[attempt.exercise_slug] = attempt
    return latest


def _card(
    study: access.Study,
    step: StepSpec,
    exercise: ExerciseSpec,
    progress_row: ExerciseProgress | None,
    latest: Attempt | None,
    *,
    error: str = "",
    typed: str | None = None,
) -> dict[str, Any]:
    revealed = progress_row.hints_revealed if progress_row else 0
    base = reverse("step_page", kwargs={"slug": study.course.slug, "step": step.slug})
    return {
        "exercise": exercise,
        "progress": progress_row,
        "hints": exercise.hints[:revealed],
        "more_hints": revealed < len(exercise.hints),
        "solution_available": services.solution_available(progress_row, exercise),
        "solution_shown": bool(progress_row and progress_row.solution_viewed),
        "latest": latest,
        "error": error,
        "typed": typed
        if typed is not None
        else (latest.answer if latest and not latest.correct else ""),
        "action": f"{base}exercises/{exercise.slug}/",
    }


def _card_response(
    request: AuthenticatedHttpRequest,
    study: access.Study,
    step: StepSpec,
    exercise: ExerciseSpec,
    *,
    error: str = "",
    typed: str | None = None,
    status: int = 200,
) -> HttpResponse:
    row = ExerciseProgress.objects.filter(
        user=request.user, course=study.course, step_slug=step.slug, exercise_slug=exercise.slug
    ).first()
    latest = _latest_attempts(request.user, step).get(exercise.slug)
    card = _card(study, step, exercise, row, latest, error=error, typed=typed)
    if request.htmx:
        context = {"card": card, "course": study.course, "step": step}
        return render(request, "tutor/step.html#exercise", context, status=status)
    if status >= 400:
        # Without JavaScript: the whole page again, this card showing the error and the answer
        # as typed, so nothing the student wrote is lost.
        return _render_step(request, study, step, override=card, status=status)
    page = reverse("step_page", kwargs={"slug": study.course.slug, "step": step.slug})
    return redirect(f"{page}#ex-{exercise.slug}")


def _offer_language(request: AuthenticatedHttpRequest, shown: str) -> dict[str, str] | None:
    """The machine translation a student may ask for: their profile language, if not English."""
    code = (request.user.preferred_language or "").split("-")[0].lower()
    if code and code != "en" and code in LANGUAGE_NAMES and code != shown:
        return {"code": code, "name": LANGUAGE_NAMES[code]}
    return None


def ta_panel(request: AuthenticatedHttpRequest, course: Any, step_slug: str) -> dict[str, Any]:
    """What the TA chat panel shows: the conversation so far, where its socket and form go."""
    conversation = ta.conversation_for(request.user, course, step_slug)
    kwargs = {"slug": course.slug, **({"step": step_slug} if step_slug else {})}
    ws_path = f"/ws/ta/{course.slug}/" + (f"{step_slug}/" if step_slug else "")
    history = list(conversation.messages.order_by("-created_at", "-id")[:50])[::-1]
    return {
        "ws_path": ws_path,
        "post_url": reverse("ta_post_step" if step_slug else "ta_post", kwargs=kwargs),
        "history": history,
        "max_chars": ta.MAX_MESSAGE_CHARS,
        "step": step_slug,
        "typed": request.session.pop("ta_typed", ""),
        "error": request.session.pop("ta_error", ""),
    }


@require_POST
@login_required
def ta_post(request: AuthenticatedHttpRequest, slug: str, step: str = "") -> HttpResponse:
    """The TA chat without JavaScript: the reply is written before the page comes back."""
    study = access.access_course_for_study(request.user, slug)
    if step:
        access.access_step_for_study(request.user, study, step)
    back = (
        reverse("step_page", kwargs={"slug": slug, "step": step})
        if step
        else study.course.get_absolute_url()
    )
    text = request.POST.get("text", "").strip()
    error = ""
    if not text:
        error = "Write a message first."
    elif len(text) > ta.MAX_MESSAGE_CHARS:
        error = f"That message is {len(text)} characters long; the limit is {ta.MAX_MESSAGE_CHARS}."
    if error:
        request.session["ta_typed"], request.session["ta_error"] = text, error
        return redirect(f"{back}#ta")
    conversation = ta.conversation_for(request.user, study.course, step)
    try:
        posted = ta.post_student_message(
            conversation_id=conversation.pk,
            user_id=request.user.pk,
            text=text,
            client_id=request.POST.get("client_id", ""),
        )
    except ta.TurnInProgress as busy:
        request.session["ta_typed"], request.session["ta_error"] = text, str(busy)
        return redirect(f"{back}#ta")
    if posted.reply is not None:
        async_to_sync(ta.run_turn)(ta.Ask(conversation.pk, posted.message.pk, posted.reply.pk))
    return redirect(f"{back}#ta")
