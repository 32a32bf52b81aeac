import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from eureka import access
from tutor.models import Role


def test_anonymous_sees_only_published_courses(course, draft_course):
    assert list(access.visible_courses(AnonymousUser())) == [course]
    with pytest.raises(Http404):
        access.access_course(AnonymousUser(), draft_course.slug)


def test_enrolled_staff_of_a_draft_see_it_outsiders_do_not(draft_course, outsider):
    from tests.factories import EnrollmentFactory

    teacher = EnrollmentFactory(course=draft_course, role=Role.INSTRUCTOR).user
    assert access.access_course(teacher, draft_course.slug) == draft_course
    with pytest.raises(Http404):
        access.access_course(outsider, draft_course.slug)


def test_site_staff_see_every_course(staff, course, draft_course):
    assert set(access.visible_courses(staff)) == {course, draft_course}


@pytest.mark.parametrize(
    ("who", "edit", "assist", "role"),
    [
        ("student", False, False, Role.STUDENT),
        ("ta", False, True, Role.TA),
        ("instructor", True, True, Role.INSTRUCTOR),
        ("staff", True, True, None),
        ("outsider", False, False, None),
    ],
)
def test_roles_decide_who_edits_and_who_assists(request, course, who, edit, assist, role):
    user = request.getfixturevalue(who)
    assert access.course_role(user, course) == role
    assert access.can_edit_course(user, course) is edit
    assert access.can_assist_course(user, course) is assist


def test_read_only_member_gets_403_for_edit_and_instructor_gets_the_course(
    course, student, instructor
):
    with pytest.raises(PermissionDenied):
        access.access_course_for_edit(student, course.slug)
    assert access.access_course_for_edit(instructor, course.slug) == course


def test_visible_courses_lists_each_course_once_for_a_member(course, student):
    assert list(access.visible_courses(student)) == [course]
