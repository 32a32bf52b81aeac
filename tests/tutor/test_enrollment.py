import pytest
from django.core.exceptions import ValidationError

from tests.factories import UserFactory
from tutor import services
from tutor.models import Enrollment, Role


def test_student_enrolls_in_a_published_course_from_its_page(client, outsider, course):
    client.force_login(outsider)
    response = client.post(f"/courses/{course.slug}/enroll/", follow=True)
    assert response.status_code == 200
    assert "You are enrolled in LLM101n" in response.content.decode()
    assert Enrollment.objects.get(user=outsider, course=course).role == Role.STUDENT
    dashboard = client.get("/dashboard/").content.decode()
    assert "Learning" in dashboard and "LLM101n" in dashboard


def test_enrolling_twice_keeps_one_enrollment_and_its_role(client, instructor, course):
    client.force_login(instructor)
    client.post(f"/courses/{course.slug}/enroll/")
    assert Enrollment.objects.get(user=instructor, course=course).role == Role.INSTRUCTOR


def test_enroll_needs_login_and_post(client, course):
    assert client.post(f"/courses/{course.slug}/enroll/").status_code == 302
    client.force_login(UserFactory())
    assert client.get(f"/courses/{course.slug}/enroll/").status_code == 405


def test_draft_course_refuses_student_enrollment(outsider, draft_course):
    with pytest.raises(ValidationError, match="not open"):
        services.enrollment_create(user=outsider, course=draft_course)


def test_dashboard_groups_courses_by_role(client, ta, course):
    client.force_login(ta)
    html = client.get("/dashboard/").content.decode()
    assert 'id="assisting"' in html
    assert 'id="learning"' not in html
