import os
import socket
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.factories import CourseFactory, EnrollmentFactory, UserFactory
from tutor.models import Role


@pytest.fixture
def redis_url() -> str:
    """The real Redis the suite was pointed at (REDIS_URL; 127.0.0.1:6379 db 15 by default).

    Tests that ask for it fail, not skip, when Redis is down: CI always has one.
    """
    url = settings.TEST_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis at {url} is not reachable ({error}); start it or set REDIS_URL.")
    client.flushdb()
    return url


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def course(db):
    return CourseFactory(slug="llm101n", title="LLM101n", summary="Let's build a Storyteller.")


@pytest.fixture
def draft_course(db):
    return CourseFactory(slug="draft", title="Secret draft", is_published=False)


@pytest.fixture
def student(course):
    return EnrollmentFactory(
        course=course, user=UserFactory(username="stu"), role=Role.STUDENT
    ).user


@pytest.fixture
def instructor(course):
    return EnrollmentFactory(
        course=course, user=UserFactory(username="ines"), role=Role.INSTRUCTOR
    ).user


@pytest.fixture
def ta(course):
    return EnrollmentFactory(course=course, user=UserFactory(username="tariq"), role=Role.TA).user


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for a child process of the project: no inherited Django or Eureka settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EUREKA_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


SAMPLE_COURSE = Path(__file__).parent / "fixtures" / "courses" / "sample-ramp"


@pytest.fixture
def sample_files():
    from courses import fileformat

    spec, problems, files = fileformat.read_folder(SAMPLE_COURSE)
    assert spec is not None and not problems
    return files


@pytest.fixture
def sample_course(db, sample_files):
    """The sample ramp imported and published (version 1)."""
    from courses import services

    course = services.course_import(files=sample_files).course
    services.course_publish(course=course, user=None)
    return course


@pytest.fixture
def sample_student(sample_course):
    return EnrollmentFactory(
        course=sample_course, user=UserFactory(username="learner"), role=Role.STUDENT
    ).user
