"""The Content Security Policy costs the pages nothing: chromium opens every page of the
authorisation table that staff may open (staff see the most), and the student's step page with
its live chat, and reports nothing blocked (the `new_context` fixture fails the test on any
"Content Security Policy" message on the console)."""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from playwright.sync_api import BrowserContext, expect

from tests.e2e.conftest import LiveServer, wait_for_chat
from tests.eureka import authorisation_table as table
from tests.eureka.test_authorisation_table import build_world

# Not pages: the health check's JSON, the concept graph's SVG, the insights' CSV download.
NOT_PAGES = {"healthz", "author_concept_graph", "course_insights_csv"}


def logged_in(context: BrowserContext, server: LiveServer, user) -> BrowserContext:
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}]
    )
    return context


def test_every_page_staff_may_open_renders_with_nothing_blocked(
    new_context, asgi_server, sample_files
):
    world = build_world(sample_files)
    page = logged_in(new_context(), asgi_server, world.users["staff"]).new_page()
    opened = 0
    for route in table.ROUTES:
        if route.name in NOT_PAGES or table.parse(route.get)[-1] != "200":
            continue
        response = page.goto(world.url(route.url))
        assert response is not None and response.status == 200, route.id
        assert "script-src 'self'" in response.headers["content-security-policy"], route.id
        opened += 1
    assert opened > 30


def test_math_is_typeset_and_the_chat_connects_with_nothing_blocked(
    new_context, asgi_server, sample_files
):
    world = build_world(sample_files)
    staff = logged_in(new_context(), asgi_server, world.users["staff"]).new_page()
    staff.goto(world.url("/author/{course}/steps/probabilities/"))  # its preview has TeX
    expect(staff.locator(".math .katex").first).to_be_visible()  # KaTeX styles through the DOM
    student = logged_in(new_context(), asgi_server, world.users["student"]).new_page()
    student.goto(world.url("/courses/{course}/steps/{step}/"))
    wait_for_chat(student)  # the WebSocket to the page's own host is allowed
