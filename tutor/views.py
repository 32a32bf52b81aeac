from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from eureka import access
from eureka.http import AuthenticatedHttpRequest
from tutor import services
from tutor.models import Enrollment, Role


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
    return redirect(course)
