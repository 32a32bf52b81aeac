import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings
from django.urls import path

from tests.factories import CourseFactory


def test_landing_says_what_eureka_is_and_lists_published_courses(client, course, draft_course):
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "AI teaching assistant" in html
    assert "LLM101n" in html
    assert course.get_absolute_url() in html
    assert "Secret draft" not in html


def test_landing_without_courses_says_so(client, db):
    assert "No course is published yet" in client.get("/").content.decode()


def test_base_template_passes_csrf_to_htmx_and_loads_vendor_files(client, db):
    html = client.get("/").content.decode()
    headers = re.search(r"<body hx-headers='([^']+)'", html)
    assert headers is not None
    assert json.loads(headers.group(1))["X-CSRFToken"]
    for name in (
        "vendor/htmx/htmx.min.js",
        "vendor/htmx-ext-ws/ws.min.js",
        "vendor/pico/pico.min.css",
    ):
        assert f"/static/{name}" in html
        assert finders.find(name), f"{name} is not installed: run `make install`"


def test_page_is_semantic_and_keyboard_reachable(client, db):
    html = client.get("/").content.decode()
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert '<nav aria-label="Main">' in html
    assert '<html lang="en">' in html


def test_navigation_is_plain_links_that_work_without_javascript(client, db):
    html = client.get("/").content.decode()
    nav = html[html.index("<nav") : html.index("</nav>")]
    assert "hx-" not in nav
    for href in re.findall(r'href="([^"]+)"', nav):
        assert client.get(href).status_code == 200, href


@pytest.mark.parametrize(
    ("who", "shown", "hidden"),
    [
        (None, ["Log in", "Sign up"], ["My learning", "Teaching", "TA desk", "Site admin"]),
        ("student", ["My learning", "Log out"], ["Teaching", "TA desk", "Site admin"]),
        ("ta", ["TA desk"], ["Teaching", "My learning", "Site admin"]),
        ("instructor", ["Teaching", "TA desk"], ["My learning", "Site admin"]),
        ("staff", ["Teaching", "TA desk", "Site admin"], ["My learning", "Sign up"]),
    ],
)
def test_navigation_shows_each_role_what_it_can_use(client, request, course, who, shown, hidden):
    if who:
        client.force_login(request.getfixturevalue(who))
    html = client.get("/").content.decode()
    nav = html[html.index("<nav") : html.index("</nav>")]
    for label in shown:
        assert label in nav
    for label in hidden:
        assert label not in nav


def test_unknown_url_gets_designed_404_page(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "/no/such/page/" in html
    assert '<nav aria-label="Main">' in html


def _explode(request):
    raise RuntimeError("boom")


urlpatterns = [path("explode/", _explode)]


@override_settings(ROOT_URLCONF=__name__)
def test_server_error_gets_designed_500_page(client, db):
    client.raise_request_exception = False
    response = client.get("/explode/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "Nothing you wrote is lost" in html
    assert "Traceback" not in html


def test_course_page_shows_enroll_button_to_signed_in_visitor(client, outsider, course):
    client.force_login(outsider)
    html = client.get(course.get_absolute_url()).content.decode()
    assert "Enroll in LLM101n" in html


def test_draft_course_is_not_found_for_outsiders(client, outsider, draft_course):
    client.force_login(outsider)
    assert client.get(draft_course.get_absolute_url()).status_code == 404


def test_many_courses_are_listed_in_title_order(client, db):
    # Titles no other course's text contains (another test's course may be listed too, and
    # "Mu" alone is found in "Multimodal").
    for title in ["Zeta ramp 7q", "Alpha ramp 7q", "Mu ramp 7q"]:
        CourseFactory(title=title)
    html = client.get("/").content.decode()
    assert html.index("Alpha ramp 7q") < html.index("Mu ramp 7q") < html.index("Zeta ramp 7q")
