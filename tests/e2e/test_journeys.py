"""Whole journeys through the site in a real browser: a new student from sign-up to working a
step with the AI TA, and an instructor from a ramp problem to a published version students see."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import log_in
from tests.factories import EnrollmentFactory, UserFactory
from tutor.models import Role

COURSE_TITLE = "Sample ramp: from counting to bigrams"
STEP_URL = "/courses/sample-ramp/steps/counting-characters/"
NEW_PASSWORD = "a long and unusual passphrase 42"
# Wrong answers to every placement probe of the sample ramp, so the probe starts the student at
# the first step.
WRONG_PROBE_ANSWERS = {
    "mississippi": "7",
    "add up to": "the number of characters",
    "depends only on the current one": "trigram",
}


@pytest.fixture
def course_instructor(sample_course):
    return EnrollmentFactory(
        course=sample_course, user=UserFactory(username="ines"), role=Role.INSTRUCTOR
    ).user


def answer_probe_wrongly(page: Page) -> int:
    """Answer the placement questions until the probe is over; returns how many there were."""
    for asked in range(1, 6):
        expect(page.get_by_text(f"Question {asked} (at most")).to_be_visible()
        prompt = page.locator("article .prompt").inner_text()
        answer = next(a for key, a in WRONG_PROBE_ANSWERS.items() if key in prompt)
        if page.get_by_role("radio").count():
            page.get_by_label(answer, exact=True).check()
        else:
            page.get_by_label("Your answer").fill(answer)
        page.get_by_role("button", name="Answer", exact=True).click()
        next_question = page.get_by_text(f"Question {asked + 1} (at most")
        step = page.locator("article.step")
        expect(next_question.or_(step)).to_be_visible()
        if step.is_visible():
            return asked
    raise AssertionError("the placement probe went on past its cap of questions")


def open_outline(author: Page) -> None:
    nav = author.get_by_role("navigation", name=re.compile("^Authoring"))
    nav.get_by_role("link", name="Outline").click()
    expect(author.get_by_role("heading", name="Validation")).to_be_visible()


def test_a_new_student_signs_up_is_placed_and_works_a_step_with_the_ta(new_page, sample_course):
    page = new_page()
    page.goto("/")
    page.get_by_role("button", name="Create a free account").click()  # a link styled as one
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Username").fill("ada")
    page.get_by_label(re.compile(r"^Password:?$")).fill(NEW_PASSWORD)
    page.get_by_label(re.compile(r"^Password \(again\)")).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign Up", exact=True).click()
    expect(page.get_by_role("link", name="ada")).to_be_visible()

    page.get_by_role("link", name="Courses", exact=True).click()
    page.get_by_role("link", name=COURSE_TITLE).click()
    page.get_by_role("button", name=f"Enroll in {COURSE_TITLE}").click()
    expect(page.get_by_text(f"You are enrolled in {COURSE_TITLE}.")).to_be_visible()
    expect(page.get_by_role("heading", name="Where should you start?")).to_be_visible()
    page.get_by_role("button", name="Start the questions").click()
    answer_probe_wrongly(page)
    expect(page).to_have_url(re.compile(re.escape(STEP_URL) + "$"))
    expect(page).to_have_title(re.compile("^Counting characters"))

    # From here on everything happens in place: htmx swaps and the chat's WebSocket.
    page.evaluate("window.__e2eUntouched = 'still here'")
    exercise = page.locator("#ex-count-l")
    exercise.get_by_role("button", name="Show a hint (0 of 2 shown)").click()
    expect(exercise.get_by_text("Go through the text one character at a time.")).to_be_visible()
    expect(exercise.get_by_role("button", name="Next hint (1 of 2 shown)")).to_be_visible()

    exercise.get_by_label("Your answer").fill("2")
    exercise.get_by_role("button", name="Check my answer").click()
    expect(exercise.locator(".feedback")).to_contain_text("✘")
    expect(exercise.get_by_role("button", name="Show the worked solution")).to_be_visible()
    exercise.get_by_label("Your answer").fill("3")
    exercise.get_by_role("button", name="Check my answer").click()
    expect(exercise.locator(".feedback")).to_contain_text("✔")
    expect(exercise.get_by_text("Solved")).to_be_visible()

    question = "Why do we count characters before anything else?"
    page.get_by_label("Your message to the TA").fill(question)
    page.get_by_role("button", name="Send", exact=True).click()
    chat = page.locator(".ta-log")
    expect(chat.locator(".ta-student")).to_contain_text(question)
    reply = chat.locator(".ta-assistant")
    expect(reply.locator(".ta-who")).to_have_text("AI TA")
    expect(reply.locator(".ta-body")).not_to_be_empty()
    expect(reply).to_contain_text("generation off")
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_enabled()
    assert page.evaluate("window.__e2eUntouched") == "still here"


def test_an_instructor_fixes_a_ramp_problem_publishes_and_students_see_the_new_step(
    new_page, sample_student, course_instructor
):
    new_sentence = "Counting is the first-order term: nothing simpler predicts text."
    student = new_page()
    log_in(student, "learner")
    student.goto(STEP_URL)
    expect(student.get_by_text("The simplest model of text is")).to_be_visible()
    expect(student.get_by_text(new_sentence)).to_have_count(0)

    author = new_page()
    log_in(author, "ines")
    author.get_by_role("link", name="Teaching").click()
    author.locator("#teaching").get_by_role("link", name="author").click()
    expect(author.get_by_role("heading", name=COURSE_TITLE, level=1)).to_be_visible()
    author.get_by_role("link", name="Counting characters", exact=True).click()
    expect(author).to_have_title(re.compile("^Edit Counting characters"))

    # A problem: the first step now requires a concept only the last step teaches.
    body = author.get_by_label("Body (Markdown)")
    body.fill(body.input_value() + "\n\n")
    body.press_sequentially(new_sentence)  # typed, so the live preview follows
    expect(author.locator("#preview")).to_contain_text(new_sentence)
    requires = author.get_by_role("group", name="Requires")
    requires.get_by_label("Bigram model").check()
    author.get_by_role("button", name="Save step").click()
    problems = author.get_by_role("region", name="Problems in this step")
    expect(problems).to_contain_text("bigram-model")
    student.reload()  # saved, not published: students still see the published version
    expect(student.get_by_text("The simplest model of text is")).to_be_visible()
    expect(student.get_by_text(new_sentence)).to_have_count(0)

    open_outline(author)
    author.get_by_role("button", name=re.compile("^Publish")).click()
    validation = author.locator("#validation")
    expect(validation).to_contain_text("Publishing refused.")
    expect(validation).to_contain_text("bigram-model")

    validation.get_by_role("link", name="edit step").click()
    author.get_by_role("group", name="Requires").get_by_label("Bigram model").uncheck()
    author.get_by_role("button", name="Save step").click()
    expect(author.get_by_role("status").filter(has_text="Saved as revision")).to_be_visible()
    expect(author.get_by_role("region", name="Problems in this step")).to_have_count(0)

    open_outline(author)
    expect(author.locator("#validation")).to_contain_text("No problems")
    author.get_by_role("button", name=re.compile("^Publish")).click()
    expect(author.locator("#validation")).to_contain_text(
        "Published version 2: students now see it."
    )

    student.reload()
    expect(student.get_by_text(new_sentence)).to_be_visible()
