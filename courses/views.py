from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from eureka import access


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    courses = access.visible_courses(request.user)
    return render(request, "courses/landing.html", {"courses": courses})


@require_GET
def course_detail(request: HttpRequest, slug: str) -> HttpResponse:
    course = access.access_course(request.user, slug)
    context = {
        "course": course,
        "role": access.course_role(request.user, course),
        "can_enroll": access.can_enroll(request.user, course),
        "can_edit": access.can_edit_course(request.user, course),
    }
    return render(request, "courses/course_detail.html", context)
