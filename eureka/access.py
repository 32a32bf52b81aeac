"""Who may see and change what. Views and consumers call these; nothing else decides access.

Per-course roles come from an enrollment (student, TA, instructor); site staff may see and edit
every course. A course that the user may not see is reported as missing (404), so its existence
does not leak; one the user may see but not change gives 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from accounts.models import User
from courses import selectors
from courses.models import Course, CourseQuerySet, CourseVersion
from courses.spec import CourseSpec, StepSpec
from tutor import progress
from tutor.models import Enrollment, Escalation, EscalationQuerySet, Role

AnyUser = User | AnonymousUser

_STAFF_ROLES = (Role.TA, Role.INSTRUCTOR)


def course_role(user: AnyUser, course: Course) -> Role | None:
    """The user's role in the course, or None when not enrolled."""
    if not user.is_authenticated:
        return None
    role = (
        Enrollment.objects.filter(user=user, course=course).values_list("role", flat=True).first()
    )
    return Role(role) if role else None


def visible_courses(user: AnyUser) -> CourseQuerySet:
    """Published courses, plus every course the user is enrolled in; all courses for staff."""
    courses = Course.objects.all()
    if user.is_authenticated and user.is_staff:
        return courses
    if not user.is_authenticated:
        return courses.published()
    return courses.filter(Q(is_published=True) | Q(enrollments__user=user)).distinct()


def can_edit_course(user: AnyUser, course: Course) -> bool:
    if not user.is_authenticated:
        return False
    return user.is_staff or course_role(user, course) == Role.INSTRUCTOR


def can_assist_course(user: AnyUser, course: Course) -> bool:
    """TAs and instructors work the course's escalations and see its students' conversations."""
    if not user.is_authenticated:
        return False
    return user.is_staff or course_role(user, course) in _STAFF_ROLES


def can_enroll(user: AnyUser, course: Course) -> bool:
    return user.is_authenticated and course.is_published and course_role(user, course) is None


def access_course(user: AnyUser, slug: str) -> Course:
    """The course with this slug that the user may see, or 404."""
    course = visible_courses(user).filter(slug=slug).first()
    if course is None:
        raise Http404("No such course.")
    return course


def access_course_for_edit(user: AnyUser, slug: str) -> Course:
    """The course with this slug that the user may change: 404 if unseen, 403 if read-only."""
    course = access_course(user, slug)
    if not can_edit_course(user, course):
        raise PermissionDenied("Only the course's instructors may change it.")
    return course


@dataclass(frozen=True)
class Study:
    """A course as a signed-in member studies it: its latest published version."""

    course: Course
    version: CourseVersion
    spec: CourseSpec
    enrollment: Enrollment | None  # None for site staff who are not enrolled


def access_course_for_study(user: AnyUser, slug: str) -> Study:
    """404 if the course is unseen or has no published version; 403 if the user is not in it."""
    course = access_course(user, slug)
    version = selectors.latest_version(course)
    if version is None:
        raise Http404("This course has no published version yet.")
    if not user.is_authenticated:
        raise PermissionDenied("Log in to work on this course.")
    enrollment = Enrollment.objects.filter(user=user, course=course).first()
    if enrollment is None and not user.is_staff:
        raise PermissionDenied("Enroll in this course to work on its steps.")
    return Study(course, version, selectors.version_spec(version), enrollment)


def access_step_for_study(user: User, study: Study, step_slug: str) -> StepSpec:
    """The step of the published version: 404 if it has no such step, 403 while it is locked."""
    step = study.spec.step(step_slug)
    if step is None:
        raise Http404("No such step in this course.")
    solved = progress.solved_exercises(user, study.course)
    mastered = progress.mastered_concepts(user, study.course)
    statuses = progress.ramp_status(study.spec, solved, mastered)
    status = next(s for s in statuses if s.step.slug == step_slug)
    if status.state == progress.StepState.LOCKED:
        names = ", ".join(_concept_name(study.spec, c) for c in status.missing)
        raise PermissionDenied(f"This step unlocks once you have learnt: {names}.")
    return step


def _concept_name(spec: CourseSpec, slug: str) -> str:
    concept = spec.concept(slug)
    return concept.name if concept else slug


@dataclass(frozen=True)
class Navigation:
    """What the navigation offers this user."""

    signed_in: bool
    learns: bool
    teaches: bool
    assists: bool
    is_staff: bool


def navigation_for(user: AnyUser) -> Navigation:
    if not user.is_authenticated:
        return Navigation(False, False, False, False, False)
    roles = set(Enrollment.objects.filter(user=user).values_list("role", flat=True))
    return Navigation(
        signed_in=True,
        learns=Role.STUDENT in roles,
        teaches=Role.INSTRUCTOR in roles or user.is_staff,
        assists=Role.TA in roles or Role.INSTRUCTOR in roles or user.is_staff,
        is_staff=user.is_staff,
    )


def escalation_queue(user: AnyUser) -> EscalationQuerySet:
    """The escalations this user may work: those of the courses they TA or instruct; every
    course's for site staff; none for anyone else."""
    if not user.is_authenticated:
        return Escalation.objects.none()
    if user.is_staff:
        return Escalation.objects.all()
    assisted = Enrollment.objects.filter(user=user, role__in=_STAFF_ROLES).values("course_id")
    return Escalation.objects.filter(course_id__in=assisted)


def access_escalation(user: AnyUser, pk: int) -> Escalation:
    """The escalation with this id that the user may work, or 404 (its existence does not leak
    to students or to TAs of other courses)."""
    escalation = (
        escalation_queue(user)
        .select_related("course", "conversation", "student", "claimed_by")
        .filter(pk=pk)
        .first()
    )
    if escalation is None:
        raise Http404("No such escalation.")
    return escalation
