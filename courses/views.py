from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from courses import selectors
from eureka import access
from tutor import progress


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    courses = access.visible_courses(request.user)
    return render(request, "courses/landing.html", {"courses": courses})


@require_GET
def course_detail(request: HttpRequest, slug: str) -> HttpResponse:
    course = access.access_course(request.user, slug)
    role = access.course_role(request.user, course)
    context: dict[str, Any] = {
        "course": course,
        "role": role,
        "can_enroll": access.can_enroll(request.user, course),
        "can_edit": access.can_edit_course(request.user, course),
    }
    version = selectors.latest_version(course)
    if version is not None:
        # The map of the published version, with this student's progress when enrolled.
        spec = selectors.version_spec(version)
        enrolled = request.user.is_authenticated and (role is not None or request.user.is_staff)
        user = request.user
        solved = progress.solved_exercises(user, course) if user.is_authenticated else set()
        mastered = progress.mastered_concepts(user, course) if user.is_authenticated else set()
        ramp = progress.ramp_status(spec, solved, mastered if enrolled else set())
        by_slug = {s.step.slug: s for s in ramp}
        context |= dict(
            ramp=ramp,
            chapters=[
                {
                    "slug": ch.slug,
                    "title": ch.title,
                    "statuses": [by_slug[s.slug] for s in ch.steps],
                }
                for ch in spec.chapters
            ],
            can_study=enrolled,
            done_count=sum(s.state == progress.StepState.DONE for s in ramp),
        )
        if enrolled:
            from tutor.views import ta_panel  # the course-level "ask the TA"

            context["ta"] = ta_panel(request, course, "")  # type: ignore[arg-type]
    return render(request, "courses/course_detail.html", context)
