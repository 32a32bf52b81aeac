"""The human-in-the-loop round trip in two real browsers: a student asks for a human TA on a step
page, a TA of the course claims the case on the TA desk and answers, and the answer appears live
in the student's chat, marked as from a human TA, on a page that was never reloaded."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import log_in, wait_for_chat
from tests.factories import EnrollmentFactory, UserFactory
from tutor.models import Role

STEP_URL = "/courses/sample-ramp/steps/counting-characters/"
REPLY = "Count the l's one at a time: two in 'hello' and one in 'world'."


@pytest.fixture
def course_ta(sample_course):
    return EnrollmentFactory(
        course=sample_course, user=UserFactory(username="tariq"), role=Role.TA
    ).user


def mark_document(page: Page) -> list[str]:
    """Tag the current document and record every navigation of the page from now on."""
    page.evaluate("window.__e2eUntouched = 'still here'")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    return navigations


def assert_never_reloaded(page: Page, navigations: list[str]) -> None:
    assert page.evaluate("window.__e2eUntouched") == "still here"
    assert navigations == []


def answer_as_ta(ta: Page, reason: str) -> None:
    """The TA finds the student's case on the desk, claims it and sends REPLY."""
    log_in(ta, "tariq")
    ta.get_by_role("link", name="TA desk").click()
    expect(ta.get_by_role("heading", name="TA desk: escalations")).to_be_visible()
    case = ta.get_by_role("row").filter(has_text="learner")
    expect(case).to_contain_text(reason)
    expect(case).to_contain_text("Sample ramp")
    case.get_by_role("link", name=reason).click()

    expect(ta.get_by_role("heading", name=re.compile(reason))).to_be_visible()
    ta.get_by_role("button", name="Claim").click()
    expect(ta.get_by_text("You hold this case now.")).to_be_visible()
    expect(ta.locator(".case-state")).to_have_text("Claimed by tariq")

    ta.get_by_label("Reply to the student").fill(REPLY)
    ta.get_by_role("button", name="Send reply").click()
    expect(ta.get_by_text("Your reply is in the student's chat.")).to_be_visible()


def expect_human_reply(student: Page) -> None:
    reply = student.locator(".ta-log li").filter(has_text=REPLY)
    expect(reply).to_be_visible()
    expect(reply.locator(".ta-who")).to_have_text("Human TA")


def test_student_asks_for_a_human_and_the_tas_answer_appears_live(
    new_page, sample_student, course_ta
):
    student = new_page()
    log_in(student, "learner")
    student.goto(STEP_URL)
    expect(student).to_have_title(re.compile("^Counting characters"))
    student.get_by_role("button", name="Ask a human TA").click()
    expect(student.get_by_text("A human TA has been asked.")).to_be_visible()
    expect(student).to_have_url(re.compile(re.escape(STEP_URL) + "#ta$"))
    wait_for_chat(student)
    navigations = mark_document(student)

    answer_as_ta(new_page(), "Asked for a human")

    expect_human_reply(student)
    assert_never_reloaded(student, navigations)


def test_asking_for_a_human_in_the_chat_opens_a_case_answered_live(
    new_page, sample_student, course_ta
):
    student = new_page()
    log_in(student, "learner")
    student.goto(STEP_URL)
    wait_for_chat(student)
    navigations = mark_document(student)
    student.get_by_label("Your message to the TA").fill("I want to talk to a human")
    student.get_by_role("button", name="Send").click()
    chat = student.locator(".ta-log")
    expect(chat.locator(".ta-student")).to_contain_text("I want to talk to a human")
    expect(chat.locator(".ta-assistant")).to_be_visible()

    answer_as_ta(new_page(), "Asked for a human")

    expect_human_reply(student)
    assert_never_reloaded(student, navigations)
