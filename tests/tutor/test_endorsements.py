"""Endorsed answers: a TA endorses a good reply, the AI TA draws on it first, an instructor can
withdraw it."""

import pytest

from tests.factories import EnrollmentFactory, UserFactory
from tutor import escalations, ta
from tutor.models import EndorsedAnswer, Role


@pytest.fixture
def course_ta(sample_course):
    return EnrollmentFactory(
        course=sample_course, user=UserFactory(username="endorser"), role=Role.TA
    ).user


@pytest.fixture
def case_with_reply(sample_course, sample_student, course_ta):
    conversation = ta.conversation_for(sample_student, sample_course, "counting-characters")
    posted = ta.post_student_message(
        conversation_id=conversation.pk,
        user_id=conversation.user_id,
        text="Why do we count characters at all?",
        client_id="",
    )
    ta.save_reply(posted.reply.pk, "Counting is the simplest model of text.", complete=True)
    case = escalations.escalation_request_human(conversation=conversation)
    escalations.escalation_claim(escalation=case, user=course_ta)
    reply = escalations.escalation_reply(
        escalation=case,
        user=course_ta,
        text="Counts tell you which characters are common: a first model of text.",
    )
    return case, reply


def plan_for(sample_course, student, question):
    conversation = ta.conversation_for(student, sample_course, "counting-characters")
    posted = ta.post_student_message(
        conversation_id=conversation.pk, user_id=conversation.user_id, text=question, client_id=""
    )
    plan = ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk)
    ta.save_reply(posted.reply.pk, "ok", complete=True)
    return plan


def test_a_ta_endorses_a_reply_and_the_ai_ta_draws_on_it_first(
    client, sample_course, course_ta, case_with_reply
):
    case, reply = case_with_reply
    client.force_login(course_ta)
    assert "Endorse this answer" in client.get(f"/ta/escalations/{case.pk}/").content.decode()
    response = client.post(f"/ta/escalations/{case.pk}/messages/{reply.pk}/endorse/")
    assert response.status_code == 302
    endorsed = EndorsedAnswer.objects.get()
    assert endorsed.question == "Why do we count characters at all?"
    assert endorsed.step_slug == "counting-characters" and endorsed.endorsed_by == course_ta
    client.post(f"/ta/escalations/{case.pk}/messages/{reply.pk}/endorse/")
    assert EndorsedAnswer.objects.count() == 1  # endorsing twice changes nothing
    classmate = EnrollmentFactory(course=sample_course, user=UserFactory(username="classmate")).user
    plan = plan_for(sample_course, classmate, "why count characters?")
    assert plan.context.passages[0].title == "Endorsed answer"
    assert "first model of text" in plan.context.passages[0].text


def test_students_cannot_endorse(client, sample_student, case_with_reply):
    case, reply = case_with_reply
    client.force_login(sample_student)
    assert client.post(f"/ta/escalations/{case.pk}/messages/{reply.pk}/endorse/").status_code == 404
    assert not EndorsedAnswer.objects.exists()


def test_an_instructor_reviews_and_withdraws_and_the_ai_ta_stops_using_it(
    client, sample_course, course_ta, case_with_reply
):
    instructor = EnrollmentFactory(
        course=sample_course, user=UserFactory(username="teacher"), role=Role.INSTRUCTOR
    ).user
    case, reply = case_with_reply
    client.force_login(course_ta)
    client.post(f"/ta/escalations/{case.pk}/messages/{reply.pk}/endorse/")
    endorsed = EndorsedAnswer.objects.get()
    assert (
        client.post(f"/courses/sample-ramp/endorsements/{endorsed.pk}/withdraw/").status_code == 403
    )
    client.force_login(instructor)
    page = client.get("/courses/sample-ramp/endorsements/").content.decode()
    assert "first model of text" in page and "Withdraw" in page
    client.post(f"/courses/sample-ramp/endorsements/{endorsed.pk}/withdraw/")
    endorsed.refresh_from_db()
    assert endorsed.withdrawn_at is not None and endorsed.withdrawn_by == instructor
    student = EnrollmentFactory(course=sample_course, user=UserFactory(username="later")).user
    plan = plan_for(sample_course, student, "why count characters?")
    assert all(p.title != "Endorsed answer" for p in plan.context.passages)
