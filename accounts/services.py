"""Writes for accounts."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from allauth.account.models import EmailAddress
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from tutor.models import Role
from tutor.services import enrollment_set_role


@dataclass(frozen=True)
class DemoLogin:
    role: str
    username: str
    email: str
    password: str


DEMO_ACCOUNTS = [
    ("student", "student", "Sam", "Student"),
    ("instructor", "instructor", "Ines", "Instructor"),
    ("ta", "ta", "Tariq", "Assistant"),
]


def sessions_clear_expired() -> int:
    """Delete expired sessions; returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@transaction.atomic
def demo_accounts_ensure(*, logins_file: Path) -> list[DemoLogin]:
    """Create the demo student, instructor and TA once, and enroll them in every course.

    Passwords are made at random the first time and kept in `logins_file` (in the git-ignored
    data directory) so every later start prints the same ones. An account whose password is not
    on file (the file was deleted) gets a new one.
    """
    known: dict[str, str] = {}
    if logins_file.exists():
        known = json.loads(logins_file.read_text())
    logins = []
    for role, username, first, last in DEMO_ACCOUNTS:
        email = f"{username}@eureka.localhost"
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": email, "first_name": first, "last_name": last}
        )
        password = known.get(username)
        if created or password is None:
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.save(update_fields=["password"])
        EmailAddress.objects.update_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
        for course in Course.objects.all():
            enrollment_set_role(user=user, course=course, role=Role(role))
        known[username] = password
        logins.append(DemoLogin(role, username, user.email, password))
    logins_file.parent.mkdir(parents=True, exist_ok=True)
    logins_file.write_text(json.dumps(known, indent=2))
    logins_file.chmod(0o600)
    return logins


def profile_update(*, user: User, first_name: str, last_name: str, preferred_language: str) -> User:
    user.first_name, user.last_name = first_name, last_name
    user.preferred_language = preferred_language
    user.save(update_fields=["first_name", "last_name", "preferred_language"])
    return user
