"""Writes for enrollments and progress. Views, consumers and tasks call these."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from courses.models import Course
from tutor.models import Enrollment, Role


@transaction.atomic
def enrollment_create(*, user: User, course: Course, role: Role = Role.STUDENT) -> Enrollment:
    """Enroll the user; an existing enrollment keeps its role (joining twice changes nothing)."""
    if role == Role.STUDENT and not course.is_published:
        raise ValidationError("This course is not open for enrollment yet.")
    enrollment, _ = Enrollment.objects.get_or_create(
        user=user, course=course, defaults={"role": role}
    )
    return enrollment


@transaction.atomic
def enrollment_set_role(*, user: User, course: Course, role: Role) -> Enrollment:
    """Give the user this role in the course (staff and instructors appoint TAs and instructors)."""
    enrollment, _ = Enrollment.objects.update_or_create(
        user=user, course=course, defaults={"role": role}
    )
    return enrollment
