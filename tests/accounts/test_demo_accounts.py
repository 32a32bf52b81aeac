import json

from django.contrib.auth import authenticate
from django.test import RequestFactory

from accounts.models import User
from accounts.services import demo_accounts_ensure
from tutor.models import Enrollment, Role

# A log-in is a request: the throttle (django-axes) refuses to judge one without it.
LOG_IN = RequestFactory().post("/accounts/login/")


def test_demo_accounts_are_created_once_with_stable_passwords(db, tmp_path, course):
    logins_file = tmp_path / "demo-logins.json"
    first = demo_accounts_ensure(logins_file=logins_file)
    second = demo_accounts_ensure(logins_file=logins_file)
    assert [d.role for d in first] == ["student", "instructor", "ta"]
    assert first == second
    assert User.objects.filter(username__in=["student", "instructor", "ta"]).count() == 3
    for login in first:
        assert authenticate(LOG_IN, username=login.username, password=login.password) is not None
    assert json.loads(logins_file.read_text())["ta"] == first[2].password
    assert oct(logins_file.stat().st_mode & 0o777) == "0o600"
    roles = dict(Enrollment.objects.filter(course=course).values_list("user__username", "role"))
    assert roles == {"student": Role.STUDENT, "instructor": Role.INSTRUCTOR, "ta": Role.TA}


def test_demo_account_without_a_recorded_password_gets_a_new_one(db, tmp_path):
    logins_file = tmp_path / "demo-logins.json"
    first = demo_accounts_ensure(logins_file=logins_file)
    logins_file.unlink()
    again = demo_accounts_ensure(logins_file=logins_file)
    assert again[0].password != first[0].password
    assert authenticate(LOG_IN, username="student", password=again[0].password) is not None
