"""Walks the authorisation table (tests/eureka/authorisation_table.py): every URL and WebSocket
route, asked by each kind of visitor, answers as the table says; a route the table does not
list, or a row for a route that no longer exists, fails here by name. Also: every request that
changes state needs the CSRF token, and a WebSocket from another site is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RoutePattern

from accounts.models import User
from courses import services as course_services
from courses.models import StepRevision
from courses.selectors import latest_version, version_spec
from eureka.routing import websocket_urlpatterns
from tests.eureka import authorisation_table as table
from tests.factories import CourseFactory, EnrollmentFactory, UserFactory
from tutor import endorsements, escalations, ta
from tutor import services as tutor_services
from tutor.models import Role

# ---------------------------------------------------------------------------------------------
# The world every row is tried in


@dataclass
class World:
    users: dict[str, User | None]
    values: dict[str, Any]

    def url(self, template: str) -> str:
        return template.format(**self.values)


def build_world(sample_files):
    """The sample ramp, published, with a student, a TA and an instructor; another course with
    its own student; site staff enrolled nowhere; an unpublished draft that the student and the
    instructor are enrolled in; and in the sample ramp the student's (wrong) answer to the first
    exercise, a conversation with an AI reply, an open escalation on it and an endorsed
    answer."""
    course = course_services.course_import(files=sample_files).course
    course_services.course_publish(course=course, user=None)
    members = {
        actor: EnrollmentFactory(course=course, user=UserFactory(username=actor), role=role).user
        for actor, role in (
            ("student", Role.STUDENT),
            ("ta", Role.TA),
            ("instructor", Role.INSTRUCTOR),
        )
    }
    other = CourseFactory(slug="other-course", title="Another course")
    other_student = EnrollmentFactory(
        course=other, user=UserFactory(username="other_student"), role=Role.STUDENT
    ).user
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    draft = CourseFactory(slug="secret-draft", title="Secret draft", is_published=False)
    EnrollmentFactory(course=draft, user=members["student"], role=Role.STUDENT)
    EnrollmentFactory(course=draft, user=members["instructor"], role=Role.INSTRUCTOR)

    version = latest_version(course)
    assert version is not None
    step = version_spec(version).step("counting-characters")
    assert step is not None
    tutor_services.attempt_submit(
        user=members["student"], version=version, step=step, exercise=step.exercises[0], answer="2"
    )
    conversation = ta.conversation_for(members["student"], course, "counting-characters")
    posted = ta.post_student_message(
        conversation_id=conversation.pk,
        user_id=conversation.user_id,
        text="Why count characters?",
        client_id="",
    )
    assert posted.reply is not None
    ta.save_reply(posted.reply.pk, "Counting is the simplest model of text.", complete=True)
    posted.reply.refresh_from_db()
    case = escalations.escalation_request_human(conversation=conversation)
    endorsed = endorsements.endorsement_create(message=posted.reply, user=members["ta"])
    revision = StepRevision.objects.filter(step__slug="counting-characters").first()
    assert revision is not None

    users: dict[str, User | None] = {
        "anonymous": None,
        **members,
        "other_student": other_student,
        "staff": staff,
    }
    values = {
        "course": course.slug,
        "draft": draft.slug,
        "chapter": "counting",
        "step": "counting-characters",
        "exercise": "count-l",
        "concept": "character-counts",
        "revision": revision.number,
        "escalation": case.pk,
        "message": posted.reply.pk,
        "endorsement": endorsed.pk,
        "student_id": members["student"].pk,
    }
    return World(users, values)


@pytest.fixture
def world(db, sample_files) -> World:
    return build_world(sample_files)


# ---------------------------------------------------------------------------------------------
# Asking


# One browser for every request: a new Client loads the middleware again, and WhiteNoise then
# indexes every static file (a tenth of a second each time).
BROWSER = Client(enforce_csrf_checks=True)


def browser_as(user: User | None) -> tuple[Client, str]:
    """The browser, fresh (no cookies, an empty cache: no rate limit left over from an earlier
    request), logged in as this user and holding a CSRF cookie; returns the token its pages
    would carry."""
    cache.clear()
    BROWSER.cookies.clear()
    if user is not None:
        BROWSER.force_login(user)
    token = _get_new_csrf_string()
    BROWSER.cookies[settings.CSRF_COOKIE_NAME] = token
    return BROWSER, token


def outcome(response) -> str:
    """What a visitor sees, in the table's words: the status, or where a redirect goes."""
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith(reverse(settings.LOGIN_URL)):
            return table.LOGIN
        if location.startswith("/admin/login/"):
            return table.ADMIN_LOGIN
        return table.REDIRECT
    return str(response.status_code)


def ask(world: World, actor: str, method: str, route: table.Route) -> str:
    """One request, rolled back afterwards: every visitor finds the world as it was built."""
    with transaction.atomic():
        client, token = browser_as(world.users[actor])
        url = world.url(route.url)
        if method == "GET":
            response = client.get(url)
        else:
            data = {k: world.url(v) for k, v in route.data.items()}
            response = client.post(url, data, headers={"X-CSRFToken": token})
        transaction.set_rollback(True)
    return outcome(response)


def mismatches(world: World, route: table.Route) -> Iterator[str]:
    for method, row in (("GET", route.get), ("POST", route.post)):
        for actor, expected in zip(table.ACTORS, table.parse(row), strict=True):
            got = ask(world, actor, method, route)
            if got != expected:
                yield f"{method} as {actor}: the table says {expected}, the app answers {got}"


@pytest.mark.parametrize("route", table.ROUTES, ids=lambda r: r.id)
def test_each_route_answers_each_visitor_as_the_table_says(world, route):
    url = world.url(route.url)
    assert resolve(url.split("?")[0]).view_name == route.name, f"{url} is not {route.name}"
    wrong = list(mismatches(world, route))
    assert not wrong, f"{route.name} ({url}):\n  " + "\n  ".join(wrong)


# ---------------------------------------------------------------------------------------------
# The table lists every route there is


@dataclass(frozen=True)
class Found:
    name: str  # namespace:name, or the pattern where the route has no name
    path: str
    view: Any


def url_routes() -> list[Found]:
    """Every URL route the resolver knows, third-party apps' included."""
    found: list[Found] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = ":".join(n for n in (namespace, pattern.namespace) if n)
                walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                path = prefix + str(pattern.pattern)
                name = pattern.name or path
                found.append(
                    Found(f"{namespace}:{name}" if namespace else name, path, pattern.callback)
                )

    walk(get_resolver().url_patterns, "", "")
    return found


def test_every_url_route_is_in_the_table():
    listed = {route.name for route in table.ROUTES}
    missing = [
        f"{route.name} ({route.path})"
        for route in url_routes()
        if route.name not in listed and not route.path.startswith(table.GROUPED_PREFIXES)
    ]
    assert not missing, (
        "These routes are not in tests/eureka/authorisation_table.py; add a row saying who may "
        "use each:\n  " + "\n  ".join(missing)
    )


def test_every_row_of_the_table_is_a_route_that_exists():
    names = {route.name for route in url_routes()}
    stale = [route.name for route in table.ROUTES if route.name not in names]
    assert not stale, f"The table lists routes that no longer exist: {stale}"


def test_every_websocket_route_is_in_the_table():
    patterns = [str(p.pattern) for p in websocket_urlpatterns]
    listed = {route.pattern for route in table.SOCKETS}
    assert not [p for p in patterns if p not in listed], (
        "WebSocket routes missing from tests/eureka/authorisation_table.py: "
        f"{[p for p in patterns if p not in listed]}"
    )
    assert not [p for p in listed if p not in patterns], "the table lists WebSocket routes gone"
    assert all(isinstance(p.pattern, RoutePattern) for p in websocket_urlpatterns)


# ---------------------------------------------------------------------------------------------
# CSRF: no state change without the token


def test_no_view_is_exempt_from_csrf():
    exempt = [route.name for route in url_routes() if getattr(route.view, "csrf_exempt", False)]
    assert not exempt, f"views exempt from CSRF: {exempt}"


@pytest.mark.parametrize("actor", ["anonymous", "staff"])
def test_every_post_without_the_csrf_token_is_refused(world, actor):
    """Staff may do the most; anonymous reaches the log-in, sign-up and reset forms. Neither
    changes anything without the token."""
    accepted = []
    for route in table.ROUTES:
        with transaction.atomic():
            client, _ = browser_as(world.users[actor])
            del client.cookies[settings.CSRF_COOKIE_NAME]
            data = {k: world.url(v) for k, v in route.data.items()}
            response = client.post(world.url(route.url), data)
            transaction.set_rollback(True)
        if response.status_code != 403 or b"CSRF verification failed" not in response.content:
            accepted.append(f"{route.name}: {response.status_code}")
    assert not accepted, f"POST without a CSRF token was not refused: {accepted}"


# ---------------------------------------------------------------------------------------------
# WebSockets

ORIGIN = (b"origin", b"http://testserver")


@sync_to_async
def socket_world(sample_files: dict[str, str]) -> tuple[World, dict[str, bytes]]:
    world = build_world(sample_files)
    cookies = {}
    for actor, user in world.users.items():
        if user is None:
            cookies[actor] = b""
            continue
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        cookies[actor] = f"{settings.SESSION_COOKIE_NAME}={session}".encode()
    return world, cookies


async def socket_outcome(path: str, cookie: bytes, origin: tuple[bytes, bytes] = ORIGIN) -> str:
    from eureka.asgi import application

    headers = [origin] + ([(b"cookie", cookie)] if cookie else [])
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    try:
        if not connected:
            return table.REFUSED
        # Open: the chat sends its history, notifications send nothing. Closed: our close code,
        # after an error frame that says why.
        while not await communicator.receive_nothing(timeout=1):
            output = await communicator.receive_output()
            if output["type"] == "websocket.close":
                return str(output.get("code"))
            if json.loads(output.get("text") or "{}").get("type") != "error":
                break
        return table.OPEN
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_each_websocket_route_answers_each_visitor_as_the_table_says(sample_files):
    world, cookies = await socket_world(sample_files)
    wrong = []
    for route in table.SOCKETS:
        for actor, expected in zip(table.ACTORS, table.parse(route.connect), strict=True):
            got = await socket_outcome(world.url(route.path), cookies[actor])
            if got != expected:
                wrong.append(f"{route.pattern} as {actor}: table says {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_from_another_site_is_refused_before_it_opens(sample_files):
    world, cookies = await socket_world(sample_files)
    evil = (b"origin", b"https://evil.example")
    for route in table.SOCKETS:
        got = await socket_outcome(world.url(route.path), cookies["student"], origin=evil)
        assert got == table.REFUSED, route.pattern
