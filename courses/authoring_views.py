"""Instructor authoring in the browser.

Every view starts from access.access_course_for_edit (404 for a course the user cannot see, 403
for one they may not change); chapters, steps, exercises and concepts are then looked up inside
that course only, so a slug from another course is a 404. Writes go through courses.services.

Each page works as plain links and forms. With htmx, the outline's and editors' forms swap the
partial they belong to (chosen when request.htmx) instead of reloading the page. A form with
errors is rendered again, with what was typed, and status 422 (which htmx is configured to swap).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event
from django_htmx.middleware import HtmxDetails

from accounts.models import User
from courses import selectors, services
from courses.forms import (
    ArchiveForm,
    ChapterForm,
    ConceptForm,
    CourseForm,
    ExerciseForm,
    HintFormSet,
    MoveForm,
    NewChapterForm,
    NewStepForm,
    OptionFormSet,
    PreviewForm,
    StepForm,
)
from courses.models import Chapter, Concept, Course, Exercise, Step, StepConcept, StepRevision
from courses.rendering import render_markdown
from courses.spec import Problem
from courses.svg import concept_graph_svg
from courses.validation import validate
from eureka import access

INVALID = 422
COURSE_CHANGED = "course-changed"

TEMPLATE = "courses/authoring/{}.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _author(request: HtmxHttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied("Log in to author courses.")
    return request.user


def _course(request: HtmxHttpRequest, slug: str) -> Course:
    return access.access_course_for_edit(request.user, slug)


def _chapter(course: Course, chapter_slug: str) -> Chapter:
    return get_object_or_404(Chapter, course=course, slug=chapter_slug)


def _step(course: Course, step_slug: str) -> Step:
    return get_object_or_404(Step.objects.select_related("chapter"), course=course, slug=step_slug)


def _exercise(step: Step, exercise_slug: str) -> Exercise:
    return get_object_or_404(Exercise, step=step, slug=exercise_slug)


def _concept(course: Course, concept_slug: str) -> Concept:
    return get_object_or_404(Concept, course=course, slug=concept_slug)


def _outline_url(course: Course, anchor: str = "") -> str:
    url = reverse("author_course", kwargs={"slug": course.slug})
    return f"{url}#{anchor}" if anchor else url


def _step_url(step: Step) -> str:
    return reverse("author_step", kwargs={"slug": step.course.slug, "step_slug": step.slug})


# ---------------------------------------------------------------------------------------------
# The validation panel and publishing


@dataclass(frozen=True)
class ProblemRow:
    message: str
    step_url: str | None
    concept_url: str | None


_NAMED_STEP = re.compile(r"step '([a-z0-9-]+)'")
_NAMED_CONCEPT = re.compile(r"concept '([a-z0-9-]+)'")


def _problem_rows(course: Course, problems: list[Problem]) -> list[ProblemRow]:
    """Each problem with links to the step and the concept it names, where they exist."""
    steps = set(Step.objects.filter(course=course).values_list("slug", flat=True))
    concepts = set(Concept.objects.filter(course=course).values_list("slug", flat=True))
    rows = []
    for problem in problems:
        message = str(problem)
        step = next((s for s in _NAMED_STEP.findall(message) if s in steps), None)
        concept = next((c for c in _NAMED_CONCEPT.findall(message) if c in concepts), None)
        rows.append(
            ProblemRow(
                message=message,
                step_url=reverse("author_step", kwargs={"slug": course.slug, "step_slug": step})
                if step
                else None,
                concept_url=reverse(
                    "author_concept", kwargs={"slug": course.slug, "concept_slug": concept}
                )
                if concept
                else None,
            )
        )
    return rows


def _validation_context(
    course: Course, *, refused: bool = False, published: int | None = None
) -> dict[str, Any]:
    return {
        "course": course,
        "problems": _problem_rows(course, validate(selectors.course_spec(course))),
        "latest_version": selectors.latest_version(course),
        "refused": refused,
        "published": published,
    }


@require_GET
@login_required
def validation_panel(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    course = _course(request, slug)
    if not request.htmx:
        return redirect(_outline_url(course, "validation"))
    return render(request, TEMPLATE.format("outline") + "#validation", _validation_context(course))


@require_POST
@login_required
def publish(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    course = _course(request, slug)
    try:
        version = services.course_publish(course=course, user=_author(request))
    except services.CourseInvalid:
        # The panel lists the same problems that refused the publication.
        context = _validation_context(course, refused=True)
        if request.htmx:
            return render(
                request, TEMPLATE.format("outline") + "#validation", context, status=INVALID
            )
        return render(
            request,
            TEMPLATE.format("outline"),
            {**_outline_context(course), **context},
            status=INVALID,
        )
    if request.htmx:
        context = _validation_context(course, published=version.number)
        return render(request, TEMPLATE.format("outline") + "#validation", context)
    messages.success(request, f"Published version {version.number}: students now see it.")
    return redirect(_outline_url(course))


# ---------------------------------------------------------------------------------------------
# The course outline: chapters and steps, added, renamed, reordered and deleted


@dataclass
class ChapterRow:
    chapter: Chapter
    steps: list[Step]
    rename_form: forms.Form
    step_form: forms.Form
    first: bool
    last: bool


def _rename_form(chapter: Chapter, data: QueryDict | None = None) -> ChapterForm:
    return ChapterForm(data, initial={"title": chapter.title}, auto_id=f"rename-{chapter.slug}-%s")


def _new_step_form(course: Course, chapter: Chapter, data: QueryDict | None = None) -> NewStepForm:
    return NewStepForm(data, course=course, auto_id=f"new-step-{chapter.slug}-%s")


def _new_chapter_form(course: Course, data: QueryDict | None = None) -> NewChapterForm:
    return NewChapterForm(data, course=course, auto_id="new-chapter-%s")


def _course_form(course: Course, data: QueryDict | None = None) -> CourseForm:
    initial = {"title": course.title, "summary": course.summary}
    return CourseForm(data, initial=initial, auto_id="course-%s")


def _outline_context(
    course: Course,
    *,
    bound: dict[str, forms.Form] | None = None,
    status: str = "",
    error: str = "",
) -> dict[str, Any]:
    """The outline; `bound` holds forms to show with their errors, keyed by their place."""
    bound = bound or {}
    chapters = list(Chapter.objects.filter(course=course))
    steps = list(
        Step.objects.filter(course=course)
        .annotate(
            exercise_count=Count("exercises", filter=Q(exercises__is_probe=False)),
            probe_count=Count("exercises", filter=Q(exercises__is_probe=True)),
        )
        .prefetch_related(
            Prefetch(
                "concept_links",
                queryset=StepConcept.objects.filter(
                    relation=StepConcept.Relation.TEACHES
                ).select_related("concept"),
                to_attr="taught",
            )
        )
        .order_by("position", "id")
    )
    rows = [
        ChapterRow(
            chapter=chapter,
            steps=[s for s in steps if s.chapter_id == chapter.pk],
            rename_form=bound.get(f"rename-{chapter.slug}") or _rename_form(chapter),
            step_form=bound.get(f"step-{chapter.slug}") or _new_step_form(course, chapter),
            first=i == 0,
            last=i == len(chapters) - 1,
        )
        for i, chapter in enumerate(chapters)
    ]
    in_order = [step for row in rows for step in row.steps]
    for step in in_order:
        # A step moves across chapters, so only the course's very first and last stop.
        step.is_first = step is in_order[0]  # type: ignore[attr-defined]
        step.is_last = step is in_order[-1]  # type: ignore[attr-defined]
    return {
        "course": course,
        "chapters": rows,
        "chapter_form": bound.get("chapter") or _new_chapter_form(course),
        "course_form": bound.get("course") or _course_form(course),
        "status": status,
        "error": error,
    }


@require_GET
@login_required
def outline(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    course = _course(request, slug)
    context = {**_outline_context(course), **_validation_context(course)}
    return render(request, TEMPLATE.format("outline"), context)


def _outline_changed(
    request: HtmxHttpRequest, course: Course, message: str, anchor: str = ""
) -> HttpResponse:
    """After a change to the outline: the outline partial for htmx (and an event that refreshes
    the validation panel), else back to the page with the message."""
    if request.htmx:
        response = render(
            request,
            TEMPLATE.format("outline") + "#outline",
            _outline_context(course, status=message),
        )
        return trigger_client_event(response, COURSE_CHANGED)
    messages.success(request, message)
    return redirect(_outline_url(course, anchor))


def _outline_invalid(
    request: HtmxHttpRequest,
    course: Course,
    *,
    key: str = "",
    form: forms.Form | None = None,
    error: str = "",
) -> HttpResponse:
    """The outline again, with the refused form (and what was typed in it) or an error line."""
    context = _outline_context(course, bound={key: form} if form else None, error=error)
    if request.htmx:
        return render(request, TEMPLATE.format("outline") + "#outline", context, status=INVALID)
    context.update(_validation_context(course))
    return render(request, TEMPLATE.format("outline"), context, status=INVALID)


def _move_offset(request: HtmxHttpRequest) -> int | None:
    form = MoveForm(request.POST)
    return form.offset if form.is_valid() else None


@require_POST
@login_required
def course_update(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    course = _course(request, slug)
    form = _course_form(course, request.POST)
    if not form.is_valid():
        return _outline_invalid(request, course, key="course", form=form)
    course = services.course_update(
        course=course, title=form.cleaned_data["title"], summary=form.cleaned_data["summary"]
    )
    return _outline_changed(request, course, "Course details saved.")


@require_POST
@login_required
def chapter_add(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    course = _course(request, slug)
    form = _new_chapter_form(course, request.POST)
    if not form.is_valid():
        return _outline_invalid(request, course, key="chapter", form=form)
    chapter = services.chapter_create(
        course=course, title=form.cleaned_data["title"], slug=form.cleaned_data["slug"]
    )
    return _outline_changed(
        request, course, f"Chapter “{chapter.title}” added.", f"chapter-{chapter.slug}"
    )


@require_POST
@login_required
def chapter_rename(request: HtmxHttpRequest, slug: str, chapter_slug: str) -> HttpResponse:
    course = _course(request, slug)
    chapter = _chapter(course, chapter_slug)
    form = _rename_form(chapter, request.POST)
    if not form.is_valid():
        return _outline_invalid(request, course, key=f"rename-{chapter.slug}", form=form)
    services.chapter_rename(chapter=chapter, title=form.cleaned_data["title"])
    return _outline_changed(
        request, course, f"Chapter renamed to “{chapter.title}”.", f"chapter-{chapter.slug}"
    )


@require_POST
@login_required
def chapter_move(request: HtmxHttpRequest, slug: str, chapter_slug: str) -> HttpResponse:
    course = _course(request, slug)
    chapter = _chapter(course, chapter_slug)
    offset = _move_offset(request)
    if offset is None:
        return HttpResponseBadRequest("Say which way to move: up or down.")
    moved = services.chapter_move(chapter=chapter, offset=offset)
    where = "up" if offset < 0 else "down"
    message = (
        f"Chapter “{chapter.title}” moved {where}."
        if moved
        else f"Chapter “{chapter.title}” is already at the {'top' if offset < 0 else 'bottom'}."
    )
    return _outline_changed(request, course, message, f"chapter-{chapter.slug}")


@require_POST
@login_required
def chapter_delete(request: HtmxHttpRequest, slug: str, chapter_slug: str) -> HttpResponse:
    course = _course(request, slug)
    chapter = _chapter(course, chapter_slug)
    try:
        services.chapter_delete(chapter=chapter)
    except services.AuthoringRefused as refused:
        return _outline_invalid(request, course, error=str(refused))
    return _outline_changed(request, course, f"Chapter “{chapter.title}” deleted.")


@require_POST
@login_required
def step_add(request: HtmxHttpRequest, slug: str, chapter_slug: str) -> HttpResponse:
    course = _course(request, slug)
    chapter = _chapter(course, chapter_slug)
    form = _new_step_form(course, chapter, request.POST)
    if not form.is_valid():
        return _outline_invalid(request, course, key=f"step-{chapter.slug}", form=form)
    step = services.step_create(
        chapter=chapter,
        title=form.cleaned_data["title"],
        slug=form.cleaned_data["slug"],
        author=_author(request),
    )
    return _outline_changed(request, course, f"Step “{step.title}” added.", f"step-{step.slug}")


@require_POST
@login_required
def step_move(request: HtmxHttpRequest, slug: str, step_slug: str) -> HttpResponse:
    course = _course(request, slug)
    step = _step(course, step_slug)
    offset = _move_offset(request)
    if offset is None:
        return HttpResponseBadRequest("Say which way to move: up or down.")
    moved = services.step_move(step=step, offset=offset)
    step = _step(course, step_slug)
    message = (
        f"Step “{step.title}” moved {'up' if offset < 0 else 'down'} "
        f"(now in chapter “{step.chapter.title}”)."
        if moved
        else f"Step “{step.title}” is already at the {'start' if offset < 0 else 'end'}."
    )
    return _outline_changed(request, course, message, f"step-{step.slug}")


@require_http_methods(["GET", "POST"])
@login_required
def step_delete(request: HtmxHttpRequest, slug: str, step_slug: str) -> HttpResponse:
    """GET asks for confirmation (the step's history goes with it); POST deletes."""
    course = _course(request, slug)
    step = _step(course, step_slug)
    if request.method == "GET":
        context = {
            "course": course,
            "step": step,
            "exercise_count": step.exercises.count(),
            "revision_count": step.revisions.count(),
        }
        return render(request, TEMPLATE.format("step_delete"), context)
    services.step_delete(step=step)
    messages.success(request, f"Step “{step.title}” deleted.")
    return redirect(_outline_url(course, f"chapter-{step.chapter.slug}"))


# ---------------------------------------------------------------------------------------------
# The step editor, its live preview, and its history


def _step_form(course: Course, data: QueryDict | None = None, **kwargs: Any) -> StepForm:
    url = reverse("author_preview", kwargs={"slug": course.slug})
    return StepForm(data, course=course, preview_url=url, **kwargs)


def _step_initial(step: Step) -> dict[str, Any]:
    links = list(step.concept_links.select_related("concept"))
    return {
        "title": step.title,
        "body": step.body,
        "teaches": [k.concept.slug for k in links if k.relation == StepConcept.Relation.TEACHES],
        "requires": [k.concept.slug for k in links if k.relation == StepConcept.Relation.REQUIRES],
        "base": services.step_fingerprint(step),
    }


def _step_context(
    course: Course, step: Step, form: StepForm, *, preview: str | None = None, status: str = ""
) -> dict[str, Any]:
    items = list(step.exercises.prefetch_related("concept_links__concept"))
    problems = [
        row
        for row in _problem_rows(course, validate(selectors.course_spec(course)))
        if f"step '{step.slug}'" in row.message
    ]
    return {
        "course": course,
        "step": step,
        "form": form,
        "preview_html": _render_preview(step.body if preview is None else preview),
        "exercises": [e for e in items if not e.is_probe],
        "probes": [e for e in items if e.is_probe],
        "kinds": Exercise.Kind.choices,
        "problems": problems,
        "latest_revision": step.revisions.first(),
        "has_concepts": Concept.objects.filter(course=course).exists(),
        "status": status,
    }


def _render_preview(text: str) -> SafeString:
    # Uncached: each keystroke's text is rendered once, and must not crowd the cache that
    # serves students the same published bodies.
    render = getattr(render_markdown, "__wrapped__", render_markdown)
    return mark_safe(render(text))  # noqa: S308 - cleaned by nh3


def _step_editor(
    request: HtmxHttpRequest,
    course: Course,
    step: Step,
    form: StepForm,
    *,
    preview: str | None = None,
    status: str = "",
    code: int = 200,
) -> HttpResponse:
    context = _step_context(course, step, form, preview=preview, status=status)
    template = TEMPLATE.format("step_edit") + ("#editor" if request.htmx else "")
    return render(request, template, context, status=code)


@require_http_methods(["GET", "POST"])
@login_required
def step_edit(request: HtmxHttpRequest, slug: str, step_slug: str) -> HttpResponse:
    course = _course(request, slug)
    step = _step(course, step_slug)
    if request.method == "GET":
        form = _step_form(course, initial=_step_initial(step))
        return render(request, TEMPLATE.format("step_edit"), _step_context(course, step, form))
    form = _step_form(course, request.POST)
    if request.POST.get("op") == "preview":
        # Without JavaScript the preview is a button: the page comes back with the typed text
        # rendered beside it, nothing saved.
        return _step_editor(request, course, step, form, preview=request.POST.get("body", ""))
    if not form.is_valid():
        return _step_editor(
            request, course, step, form, preview=request.POST.get("body", ""), code=INVALID
        )
    data = form.cleaned_data
    try:
        revision = services.step_update(
            step=step,
            title=data["title"],
            body=data["body"],
            teaches=list(data["teaches"]),
            requires=list(data["requires"]),
            author=_author(request),
            base=data["base"] or None,
            note=data["note"],
        )
    except services.AuthoringRefused as refused:
        # The typed text stays in the form; after a conflict the next save goes through.
        fresh = _step(course, step_slug)
        post = request.POST.copy()
        post["base"] = services.step_fingerprint(fresh)
        form = _step_form(course, post)
        form.is_valid()
        form.add_error(None, str(refused))
        return _step_editor(
            request, course, fresh, form, preview=request.POST.get("body", ""), code=INVALID
        )
    step = _step(course, step_slug)
    message = f"Saved as revision {revision.number}." if revision else "Saved; nothing changed."
    if request.htmx:
        form = _step_form(course, initial=_step_initial(step))
        return _step_editor(request, course, step, form, status=message)
    messages.success(request, message)
    return redirect(_step_url(step))


@require_POST
@login_required
def preview(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    _course(request, slug)
    form = PreviewForm(request.POST)
    if not form.is_valid():
        return HttpResponse("<p role='alert'>The text is too long to preview.</p>", status=INVALID)
    html = _render_preview(form.cleaned_data["body"])
    return render(request, TEMPLATE.format("step_edit") + "#preview", {"preview_html": html})


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "file", "hunk", "add", "del" or "same"
    text: str


def diff_lines(old: str, new: str, *, old_name: str, new_name: str) -> list[DiffLine]:
    """A unified diff as typed lines, for a template to mark up (and escape)."""
    lines = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm=""
        )
    )
    result = [DiffLine("file", line) for line in lines[:2]]
    for line in lines[2:]:
        # Only the first two lines are headers: a removed front-matter line '---' reads '----'.
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")
        result.append(DiffLine(kind, line))
    return result


def _revision_diff(step: Step, revision: StepRevision) -> list[DiffLine]:
    before = step.revisions.filter(number__lt=revision.number).order_by("-number").first()
    return diff_lines(
        before.text if before else "",
        revision.text,
        old_name=f"revision {before.number}" if before else "(nothing)",
        new_name=f"revision {revision.number}",
    )


@require_GET
@login_required
def step_history(
    request: HtmxHttpRequest, slug: str, step_slug: str, number: int | None = None
) -> HttpResponse:
    course = _course(request, slug)
    step = _step(course, step_slug)
    revisions = list(step.revisions.select_related("author"))
    selected = (
        get_object_or_404(StepRevision, step=step, number=number)
        if number is not None
        else (revisions[0] if revisions else None)
    )
    context = {
        "course": course,
        "step": step,
        "revisions": revisions,
        "selected": selected,
        "lines": _revision_diff(step, selected) if selected else [],
    }
    template = TEMPLATE.format("history")
    if request.htmx and number is not None:
        template += "#history"
    return render(request, template, context)


# ---------------------------------------------------------------------------------------------
# The exercise editor: every kind, its hint ladder and options, and probes

_OP = re.compile(r"^(add|remove|up|down)-(hint|option)(?:-(\d+))?$")
HINT_FIELDS = ("text",)
OPTION_FIELDS = ("text", "misconception")


def _rows(
    data: QueryDict, prefix: str, fields: tuple[str, ...], flags: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The rows of a formset as posted, as plain dicts (whatever their validity)."""
    try:
        total = min(int(data.get(f"{prefix}-TOTAL_FORMS", "0")), 50)
    except ValueError:
        total = 0
    rows: list[dict[str, Any]] = []
    for i in range(max(total, 0)):
        row: dict[str, Any] = {f: data.get(f"{prefix}-{i}-{f}", "") for f in fields}
        row.update({f: data.get(f"{prefix}-{i}-{f}") in ("on", "true", "True") for f in flags})
        rows.append(row)
    return rows


def _apply_op(op: str, hints: list[dict[str, Any]], options: list[dict[str, Any]]) -> str:
    """Change the unsaved rows as the button asked; a status line for the page."""
    match = _OP.match(op)
    if match is None:
        return ""
    action, what, index = match.group(1), match.group(2), match.group(3)
    rows = hints if what == "hint" else options
    if action == "add":
        rows.append({"text": "", "misconception": "", "correct": False})
        return f"A new {what} row was added (not saved yet)."
    i = int(index) if index is not None else -1
    if not 0 <= i < len(rows):
        return ""
    if action == "remove":
        rows.pop(i)
        return f"{what.capitalize()} {i + 1} removed (not saved yet)."
    j = i - 1 if action == "up" else i + 1
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]
        return f"{what.capitalize()} {i + 1} moved to place {j + 1} (not saved yet)."
    return ""


def _initial_from(data: QueryDict, form_class: type[forms.Form]) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for name, field in form_class.base_fields.items():
        if isinstance(field, forms.MultipleChoiceField):
            initial[name] = data.getlist(name)
        elif name in data:
            initial[name] = data.get(name)
    return initial


def _exercise_initial(exercise: Exercise) -> dict[str, Any]:
    return {
        "kind": exercise.kind,
        "prompt": exercise.prompt,
        "difficulty": exercise.difficulty,
        "concepts": [k.concept.slug for k in exercise.concept_links.select_related("concept")],
        "solution": exercise.solution,
        "answer": _plain_number(exercise.answer),
        "tolerance": _plain_number(exercise.tolerance or None),
        "unit": exercise.unit,
        "accepted": "\n".join(exercise.accepted),
        "rubric": exercise.rubric,
    }


def _plain_number(value: float | None) -> str:
    """A number as an author types it: 3 rather than 3.0, nothing for none."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)


def _exercise_editor(
    request: HtmxHttpRequest,
    course: Course,
    step: Step,
    exercise: Exercise | None,
    *,
    is_probe: bool,
    form: ExerciseForm,
    hints: Any,
    options: Any,
    status: str = "",
    code: int = 200,
) -> HttpResponse:
    kind = form["kind"].value() or Exercise.Kind.MULTIPLE_CHOICE
    context = {
        "course": course,
        "step": step,
        "exercise": exercise,
        "is_probe": is_probe,
        "what": "probe" if is_probe else "exercise",
        "form": form,
        "hints": hints,
        "options": options,
        "kind": kind,
        "status": status,
        "has_concepts": Concept.objects.filter(course=course).exists(),
    }
    template = TEMPLATE.format("exercise_edit") + ("#form" if request.htmx else "")
    return render(request, template, context, status=code)


def _exercise_view(
    request: HtmxHttpRequest, course: Course, step: Step, exercise: Exercise | None, is_probe: bool
) -> HttpResponse:
    def editor(**kwargs: Any) -> HttpResponse:
        return _exercise_editor(request, course, step, exercise, is_probe=is_probe, **kwargs)

    def unbound(
        initial: dict[str, Any], hint_rows: list[dict[str, Any]], option_rows: list[Any]
    ) -> dict[str, Any]:
        kind = initial.get("kind")
        if kind == Exercise.Kind.MULTIPLE_CHOICE:
            # A multiple-choice item needs two options at least: offer the rows for them.
            option_rows += [
                {"text": "", "correct": False, "misconception": ""}
                for _ in range(2 - len(option_rows))
            ]
        return {
            "form": ExerciseForm(initial=initial, step=step, exercise=exercise, is_probe=is_probe),
            "hints": HintFormSet(prefix="hints", initial=hint_rows),
            "options": OptionFormSet(prefix="options", initial=option_rows),
        }

    if request.method == "GET":
        if exercise is not None:
            initial = _exercise_initial(exercise)
            hint_rows = [{"text": h} for h in exercise.hints]
            option_rows = [dict(o) for o in exercise.options]
        else:
            kind = request.GET.get("kind", "")
            initial = {"kind": kind if kind in Exercise.Kind.values else "multiple_choice"}
            hint_rows, option_rows = [], []
        # One empty hint row, so that adding a hint needs no extra click.
        return editor(**unbound(initial, [*hint_rows, {"text": ""}], option_rows))

    data = request.POST
    op = data.get("op", "save")
    hint_rows = _rows(data, "hints", HINT_FIELDS)
    option_rows = _rows(data, "options", OPTION_FIELDS, ("correct",))
    kind_changed = "shown_kind" in data and data["shown_kind"] != data.get("kind")
    if op != "save" or kind_changed:
        # Rearranging the unsaved rows, or switching kind: nothing is saved, nothing typed lost.
        status = _apply_op(op, hint_rows, option_rows)
        if kind_changed:
            status = "Kind changed: fill in its fields, then save."
        return editor(
            **unbound(_initial_from(data, ExerciseForm), hint_rows, option_rows), status=status
        )

    form = ExerciseForm(data, step=step, exercise=exercise, is_probe=is_probe)
    hints = HintFormSet(data, prefix="hints")
    multiple_choice = data.get("kind") == Exercise.Kind.MULTIPLE_CHOICE
    options = OptionFormSet(data if multiple_choice else None, prefix="options")
    # Every part is validated, so that all errors show at once.
    checks = [form.is_valid(), hints.is_valid(), options.is_valid() if multiple_choice else True]
    if not all(checks):
        return editor(form=form, hints=hints, options=options, code=INVALID)
    spec = form.to_spec(hints, options if multiple_choice else [])
    try:
        saved = services.exercise_save(
            step=step, exercise=exercise, spec=spec, is_probe=is_probe, author=_author(request)
        )
    except services.AuthoringRefused as refused:
        form.add_error(None, str(refused))
        return editor(form=form, hints=hints, options=options, code=INVALID)
    what = "Probe" if saved.is_probe else "Exercise"
    messages.success(request, f"{what} “{saved.slug}” saved.")
    url = _step_url(step) + f"#item-{saved.slug}"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_http_methods(["GET", "POST"])
@login_required
def exercise_new(request: HtmxHttpRequest, slug: str, step_slug: str, probe: bool) -> HttpResponse:
    course = _course(request, slug)
    return _exercise_view(request, course, _step(course, step_slug), None, probe)


@require_http_methods(["GET", "POST"])
@login_required
def exercise_edit(
    request: HtmxHttpRequest, slug: str, step_slug: str, exercise_slug: str
) -> HttpResponse:
    course = _course(request, slug)
    step = _step(course, step_slug)
    exercise = _exercise(step, exercise_slug)
    return _exercise_view(request, course, step, exercise, exercise.is_probe)


@require_POST
@login_required
def exercise_move(
    request: HtmxHttpRequest, slug: str, step_slug: str, exercise_slug: str
) -> HttpResponse:
    course = _course(request, slug)
    step = _step(course, step_slug)
    exercise = _exercise(step, exercise_slug)
    offset = _move_offset(request)
    if offset is None:
        return HttpResponseBadRequest("Say which way to move: up or down.")
    services.exercise_move(exercise=exercise, offset=offset, author=_author(request))
    if request.htmx:
        context = _step_context(course, step, _step_form(course))
        return render(request, TEMPLATE.format("step_edit") + "#items", context)
    return redirect(_step_url(step) + f"#item-{exercise.slug}")


@require_POST
@login_required
def exercise_delete(
    request: HtmxHttpRequest, slug: str, step_slug: str, exercise_slug: str
) -> HttpResponse:
    course = _course(request, slug)
    step = _step(course, step_slug)
    exercise = _exercise(step, exercise_slug)
    services.exercise_delete(exercise=exercise, author=_author(request))
    what = "Probe" if exercise.is_probe else "Exercise"
    messages.success(
        request,
        f"{what} “{exercise.slug}” deleted. Its text stays in the step's history.",
    )
    url = _step_url(step)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# ---------------------------------------------------------------------------------------------
# Concepts and the concept graph


def _concepts_context(course: Course, form: ConceptForm | None = None) -> dict[str, Any]:
    spec = selectors.course_spec(course)
    taught_by: dict[str, list[str]] = {}
    for step in spec.steps():
        for slug in step.teaches:
            taught_by.setdefault(slug, []).append(step.title)
    names = {c.slug: c.name for c in spec.concepts}
    return {
        "course": course,
        "graph": concept_graph_svg(spec) if spec.concepts else "",
        "concepts": [
            {
                "spec": c,
                "requires": [names.get(r, r) for r in c.requires],
                "taught_by": taught_by.get(c.slug, []),
            }
            for c in spec.concepts
        ],
        "form": form or ConceptForm(course=course, concept=None),
    }


@require_http_methods(["GET", "POST"])
@login_required
def concepts(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The concept graph and list; POST adds a concept."""
    course = _course(request, slug)
    if request.method == "GET":
        return render(request, TEMPLATE.format("concepts"), _concepts_context(course))
    form = ConceptForm(request.POST, course=course, concept=None)
    if form.is_valid():
        try:
            concept = services.concept_save(course=course, concept=None, spec=form.to_spec())
        except services.AuthoringRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(request, f"Concept “{concept.name}” added.")
            url = reverse("author_concepts", kwargs={"slug": course.slug})
            return redirect(f"{url}#concept-{concept.slug}")
    context = _concepts_context(course, form)
    return render(request, TEMPLATE.format("concepts"), context, status=INVALID)


def _concept_usage(concept: Concept) -> dict[str, Any]:
    return {
        "steps": list(
            Step.objects.filter(concept_links__concept=concept).distinct().order_by("title")
        ),
        "exercises": list(
            Exercise.objects.filter(concept_links__concept=concept).select_related("step")
        ),
        "dependents": list(Concept.objects.filter(prerequisite_edges__requires=concept)),
    }


@require_http_methods(["GET", "POST"])
@login_required
def concept_edit(request: HtmxHttpRequest, slug: str, concept_slug: str) -> HttpResponse:
    course = _course(request, slug)
    concept = _concept(course, concept_slug)
    if request.method == "GET":
        initial = {
            "name": concept.name,
            "description": concept.description,
            "prior_knowledge": concept.prior_knowledge,
            "requires": [e.requires.slug for e in concept.prerequisite_edges.all()],
        }
        form = ConceptForm(course=course, concept=concept, initial=initial)
        code = 200
    else:
        form = ConceptForm(request.POST, course=course, concept=concept)
        if form.is_valid():
            try:
                services.concept_save(course=course, concept=concept, spec=form.to_spec())
            except services.AuthoringRefused as refused:
                form.add_error(None, str(refused))
            else:
                messages.success(request, f"Concept “{form.cleaned_data['name']}” saved.")
                url = reverse("author_concepts", kwargs={"slug": course.slug})
                return redirect(f"{url}#concept-{concept.slug}")
        code = INVALID
    context = {"course": course, "concept": concept, "form": form, **_concept_usage(concept)}
    return render(request, TEMPLATE.format("concept_edit"), context, status=code)


@require_http_methods(["GET", "POST"])
@login_required
def concept_delete(request: HtmxHttpRequest, slug: str, concept_slug: str) -> HttpResponse:
    """GET shows what uses the concept; POST deletes it and untags those steps and exercises."""
    course = _course(request, slug)
    concept = _concept(course, concept_slug)
    if request.method == "GET":
        context = {"course": course, "concept": concept, **_concept_usage(concept)}
        return render(request, TEMPLATE.format("concept_delete"), context)
    steps = services.concept_delete(concept=concept, author=_author(request))
    note = f" {len(steps)} step(s) were untagged; see their history." if steps else ""
    messages.success(request, f"Concept “{concept.name}” deleted.{note}")
    return redirect("author_concepts", slug=course.slug)


@require_GET
@login_required
def concept_graph(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    course = _course(request, slug)
    svg = concept_graph_svg(selectors.course_spec(course))
    return HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")


# ---------------------------------------------------------------------------------------------
# Uploading the course as a .zip archive


@require_http_methods(["GET", "POST"])
@login_required
def upload(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Replace the working copy with an uploaded course folder. All or nothing: a refused
    archive or a course with problems (listed with file and line) changes nothing."""
    course = _course(request, slug)
    problems: list[Problem] = []
    if request.method == "GET":
        form = ArchiveForm()
    else:
        form = ArchiveForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                result = services.course_update_from_files(
                    course=course, files=form.cleaned_data["archive"], author=_author(request)
                )
            except services.CourseInvalid as invalid:
                problems = invalid.problems
            else:
                changed = len(result.changed_steps)
                messages.success(
                    request,
                    f"Archive imported: {changed} step{'s' if changed != 1 else ''} changed.",
                )
                return redirect(_outline_url(course))
    context = {"course": course, "form": form, "problems": [str(p) for p in problems]}
    code = INVALID if request.method == "POST" else 200
    return render(request, TEMPLATE.format("upload"), context, status=code)
