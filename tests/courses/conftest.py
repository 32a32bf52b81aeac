"""Fixtures of the authoring tests: the sample ramp imported as a draft, and its instructor."""

from pathlib import Path

import pytest

from courses import fileformat, services
from tests.factories import EnrollmentFactory, UserFactory
from tutor.models import Role

SAMPLE = Path(__file__).parent.parent / "fixtures" / "courses" / "sample-ramp"


@pytest.fixture
def ramp_files():
    spec, problems, files = fileformat.read_folder(SAMPLE)
    assert spec is not None and not problems
    return files


@pytest.fixture
def ramp(db, ramp_files):
    """The sample ramp imported (a draft: valid, never published)."""
    return services.course_import(files=ramp_files).course


@pytest.fixture
def author(ramp):
    """An instructor of the sample ramp."""
    return EnrollmentFactory(
        course=ramp, user=UserFactory(username="ramona"), role=Role.INSTRUCTOR
    ).user


@pytest.fixture
def author_client(client, author):
    client.force_login(author)
    return client
