"""Escalations: what opens a case and what it stores, the TA desk (queue, filters, case page,
claim, release, reply, resolve) and who may see which case, route by route."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from courses.selectors import latest_version, version_spec
from tests.factories import CourseFactory, EnrollmentFactory, UserFactory
from tutor import escalations, services, ta
from tutor.models import Attempt, Conversation, Escalation, Message, Role

Reason = Escalation.Reason


@pytest.fixture
def course_ta(sample_course):
    return EnrollmentFactory(
        course=sample_course, user=UserFactory(username="helper"), role=Role.TA
    ).user


@pytest.fixture
def other_ta(db):
    """A TA of another course only."""
    return EnrollmentFactory(
        course=CourseFactory(slug="other"), user=UserFactory(username="elsewhere"), role=Role.TA
    ).user


@pytest.fixture
def conversation(sample_course, sample_student):
    return ta.conversation_for(sample_student, sample_course, "counting-characters")


def say(conversation, text):
    """The student writes to the TA and the turn is planned (where words are read)."""
    posted = ta.post_student_message(
        conversation_id=conversation.pk, user_id=conversation.user_id, text=text, client_id=""
    )
    ta.after_planning(ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk))
    ta.save_reply(posted.reply.pk, "ok", complete=True)
    return posted.message


@pytest.fixture
def answer(sample_course, sample_student, django_capture_on_commit_callbacks):
    version = latest_version(sample_course)
    spec = version_spec(version)

    def run(step_slug, exercise_slug, text):
        step = spec.step(step_slug)
        exercise = next(e for e in step.exercises if e.slug == exercise_slug)
        with django_capture_on_commit_callbacks(execute=True):
            outcome = services.attempt_submit(
                user=sample_student, version=version, step=step, exercise=exercise, answer=text
            )
        return outcome.attempt

    return run


def reveal_all_hints(sample_course, sample_student, step_slug, exercise_slug):
    spec = version_spec(latest_version(sample_course))
    step = spec.step(step_slug)
    exercise = next(e for e in step.exercises if e.slug == exercise_slug)
    for _ in exercise.hints:
        services.hint_reveal(
            user=sample_student, course=sample_course, step=step, exercise=exercise
        )


# ---------------------------------------------------------------------------------------------
# Triggers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Can I talk to a human please?", [Reason.ASKED]),
        ("I want to speak with a real person", [Reason.ASKED]),
        ("is there a human TA around?", [Reason.ASKED]),
        ("This makes no sense, I give up", [Reason.FRUSTRATION]),
        ("I'm so frustrated with this exercise", [Reason.FRUSTRATION]),
        ("Someone in the forum keeps harassing me", [Reason.SAFETY]),
        ("honestly I want to kill myself", [Reason.SAFETY]),
        ("I am lost, can I talk to the TA?", [Reason.ASKED, Reason.FRUSTRATION]),
        ("How many l are in hello world?", []),
        ("What does Counter do with a person's name?", []),
    ],
)
def test_the_students_words_name_the_right_triggers(text, expected):
    assert escalations.reasons_in_words(text) == expected


def test_a_message_with_no_trigger_in_its_words_is_not_read_again_for_one(conversation):
    posted = ta.post_student_message(
        conversation_id=conversation.pk,
        user_id=conversation.user_id,
        text="What does Counter do?",
        client_id="",
    )
    plan = ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk)
    with CaptureQueriesContext(connection) as queries:
        ta.after_planning(plan)
    assert not [q["sql"] for q in queries if '"tutor_message"' in q["sql"]]
    assert not Escalation.objects.exists()


def test_asking_for_a_human_in_words_opens_a_case_with_a_snapshot_and_summary(conversation, answer):
    answer("counting-characters", "count-l", "2")
    say(conversation, "What does Counter do?")
    say(conversation, "Can I talk to a human please?")
    case = Escalation.objects.get()
    assert case.reason == Reason.ASKED and case.priority == Escalation.Priority.HIGH
    assert case.state == Escalation.State.OPEN
    assert case.course_id == conversation.course_id and case.student_id == conversation.user_id
    assert case.step_slug == "counting-characters" and case.exercise_slug == "count-l"
    snap = case.snapshot
    assert [m["role"] for m in snap["messages"]] == ["student", "assistant", "student"]
    assert snap["messages"][-1]["text"] == "Can I talk to a human please?"
    assert snap["step"] == {"slug": "counting-characters", "title": "Counting characters"}
    assert snap["exercise"]["slug"] == "count-l" and snap["exercise"]["attempts"] == 1
    assert [a["answer"] for a in snap["attempts"]] == ["2"]
    assert len(snap["mastery"]) == 1 and 0 < next(iter(snap["mastery"].values())) < 1
    assert "Asked for a human" in case.summary
    assert "Counting characters" in case.summary
    assert "Can I talk to a human please?" in case.summary


def test_a_trigger_that_fires_again_while_its_case_is_open_opens_no_second_case(conversation):
    say(conversation, "I need a human")
    say(conversation, "please, talk to a person")
    assert Escalation.objects.count() == 1
    case = Escalation.objects.get()
    case.state = Escalation.State.RESOLVED
    case.save()
    say(conversation, "I need a human again")
    assert Escalation.objects.filter(reason=Reason.ASKED).count() == 2
    assert Escalation.objects.unresolved().count() == 1


def test_a_safety_concern_is_urgent_and_heads_the_queue(conversation, sample_course, course_ta):
    say(conversation, "can I talk to a human?")
    say(conversation, "people in the chat keep bullying me")
    urgent = Escalation.objects.get(reason=Reason.SAFETY)
    assert urgent.priority == Escalation.Priority.URGENT
    queue = Client()
    queue.force_login(course_ta)
    page = queue.get(reverse("escalation_queue")).content.decode()
    page = page.split('id="escalation-list"')[1]
    assert page.index("Safety concern") < page.index("Asked for a human")


def test_three_wrong_answers_in_a_row_open_a_stuck_case(answer):
    answer("counting-characters", "count-l", "1")
    answer("counting-characters", "count-l", "2")
    assert not Escalation.objects.exists()
    answer("counting-characters", "count-l", "4")
    case = Escalation.objects.get()
    assert case.reason == Reason.FAILED_REPEATEDLY
    assert case.exercise_slug == "count-l" and case.attempt.answer == "4"
    assert [a["answer"] for a in case.snapshot["attempts"]] == ["1", "2", "4"]
    assert "3 attempt(s)" in case.summary


def test_a_right_answer_breaks_the_run_of_failures(answer):
    answer("counting-characters", "count-l", "1")
    answer("counting-characters", "count-l", "3")
    answer("counting-characters", "count-l", "2")
    answer("counting-characters", "count-l", "4")
    assert not Escalation.objects.exists()


def test_a_wrong_answer_after_every_hint_opens_a_case(answer, sample_course, sample_student):
    reveal_all_hints(sample_course, sample_student, "counting-characters", "count-l")
    answer("counting-characters", "count-l", "5")
    case = Escalation.objects.get()
    assert case.reason == Reason.HINTS_EXHAUSTED
    assert case.snapshot["exercise"]["hints_revealed"] == 2


def test_grading_that_cannot_decide_opens_a_grading_case(answer):
    attempt = answer("probabilities", "name-the-step", "making them add to one")
    attempt.refresh_from_db()
    assert attempt.grading == Attempt.Grading.NEEDS_TA
    case = Escalation.objects.get()
    assert case.reason == Reason.GRADING and case.attempt == attempt
    assert case.step_slug == "probabilities" and case.exercise_slug == "name-the-step"
    assert "making them add to one" in case.trigger


def test_the_guard_tripping_twice_opens_a_case(conversation):
    for n in range(2):
        assert not Escalation.objects.exists()
        Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            content=f"replaced {n}",
            flags={"guard_tripped": True},
        )
        escalations.check_after_turn(conversation_id=conversation.pk)
    assert Escalation.objects.get().reason == Reason.GUARD


def test_only_a_replaced_reply_or_the_model_not_knowing_needs_the_check_after_a_turn():
    # The turn asks this before it looks at the conversation at all.
    assert escalations.may_open_after_turn("Try a loop.", {"guard_tripped": True}, "nanochat")
    assert escalations.may_open_after_turn("I don't know that one.", {}, "nanochat")
    assert not escalations.may_open_after_turn("Counting each character is a loop.", {}, "m")
    assert not escalations.may_open_after_turn("I don't know", {"generation_off": True}, "")
    assert not escalations.may_open_after_turn("I'm not sure", {}, "")  # authored, no model


def test_a_failing_escalation_check_never_costs_the_student_their_attempt(answer, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("escalations are down")

    monkeypatch.setattr(escalations, "check_after_attempt", broken)
    attempt = answer("counting-characters", "count-l", "3")
    assert attempt.correct and Attempt.objects.count() == 1


def test_a_failing_word_check_never_costs_the_student_their_turn(conversation, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("escalations are down")

    monkeypatch.setattr(escalations, "check_student_words", broken)
    say(conversation, "talk to a human")  # no exception
    assert not Escalation.objects.exists()


def test_the_ask_a_human_button_opens_a_case_and_returns_to_the_chat(
    client, sample_student, sample_course
):
    client.force_login(sample_student)
    step = reverse("step_page", kwargs={"slug": "sample-ramp", "step": "counting-characters"})
    page = client.get(step).content.decode()
    assert "Ask a human TA" in page
    url = reverse("ask_human_step", kwargs={"slug": "sample-ramp", "step": "counting-characters"})
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].endswith("#ta")
    case = Escalation.objects.get()
    assert case.reason == Reason.ASKED and case.student == sample_student
    assert case.conversation.step_slug == "counting-characters"
    assert client.post(url).status_code == 302
    assert Escalation.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# The TA desk


@pytest.fixture
def case(conversation):
    return escalations.escalation_request_human(conversation=conversation)


def listed(response):
    """The queue's list of cases, without the filter form (which names every reason)."""
    return response.content.decode().split('id="escalation-list"')[1]


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_queue_shows_each_open_case_with_its_age_and_filters_it(case, conversation, course_ta):
    Escalation.objects.filter(pk=case.pk).update(created_at=timezone.now() - timedelta(hours=3))
    grading = escalations.escalation_open(conversation=conversation, reason=Reason.GRADING)
    desk = signed_in(course_ta)
    page = listed(desk.get(reverse("escalation_queue")))
    assert "Asked for a human" in page and "Grading could not decide" in page
    assert "3\xa0hours" in page  # the age of the older case
    only_old = listed(desk.get(reverse("escalation_queue"), {"older": "1h"}))
    assert "Asked for a human" in only_old and "Grading could not decide" not in only_old
    by_reason = listed(desk.get(reverse("escalation_queue"), {"reason": "grading"}))
    assert f"/ta/escalations/{grading.pk}/" in by_reason and f"/{case.pk}/" not in by_reason
    high = listed(desk.get(reverse("escalation_queue"), {"priority": "30"}))
    assert "Asked for a human" in high and "Grading could not decide" not in high
    by_course = listed(desk.get(reverse("escalation_queue"), {"course": "other"}))
    assert "No escalations match" in by_course
    partial = desk.get(reverse("escalation_queue"), {"reason": "asked"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b'id="escalation-list"' in partial.content


def test_the_case_page_shows_the_whole_context(case, conversation, course_ta):
    say(conversation, "I still do not get why Counter counts spaces")
    page = signed_in(course_ta).get(reverse("escalation_detail", args=[case.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "I still do not get why Counter counts spaces" in text  # the live conversation
    assert case.summary.split(".")[0] in text
    assert "Counting characters" in text and "count-l" in text


def test_claim_release_and_a_second_tas_claim_is_a_conflict(case, course_ta, sample_course):
    second = EnrollmentFactory(
        course=sample_course, user=UserFactory(username="second"), role=Role.TA
    ).user
    first_desk, second_desk = signed_in(course_ta), signed_in(second)
    assert first_desk.post(reverse("escalation_claim", args=[case.pk])).status_code == 302
    refused = second_desk.post(reverse("escalation_claim", args=[case.pk]))
    assert refused.status_code == 409 and "helper has claimed this case" in refused.content.decode()
    assert second_desk.post(reverse("escalation_release", args=[case.pk])).status_code == 409
    assert (
        second_desk.post(reverse("escalation_reply", args=[case.pk]), {"text": "hi"}).status_code
        == 409
    )
    case.refresh_from_db()
    assert case.state == Escalation.State.CLAIMED and case.claimed_by == course_ta
    assert first_desk.post(reverse("escalation_release", args=[case.pk])).status_code == 302
    case.refresh_from_db()
    assert case.state == Escalation.State.OPEN and case.claimed_by is None
    assert second_desk.post(reverse("escalation_claim", args=[case.pk])).status_code == 302


def test_a_reply_is_stored_as_a_human_tas_message_notified_and_emailed_when_offline(
    case, course_ta, sample_student, django_capture_on_commit_callbacks
):
    Message.objects.filter(conversation__user=sample_student).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(course_ta).post(
            reverse("escalation_reply", args=[case.pk]), {"text": "Count the `l`s one by one."}
        )
    assert response.status_code == 302
    reply = Message.objects.get(role=Message.Role.HUMAN)
    assert reply.author == course_ta and reply.conversation == case.conversation
    assert reply.flags["escalation"] == case.pk
    case.refresh_from_db()
    assert case.state == Escalation.State.CLAIMED and case.claimed_by == course_ta
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [sample_student.email] and "human TA" in email.subject
    assert "Count the `l`s one by one." in email.body
    assert "http://testserver/courses/sample-ramp/steps/counting-characters/" in email.body
    # The student's chat shows it as from a human TA on their next visit.
    student = signed_in(sample_student)
    page = student.get(
        reverse("step_page", kwargs={"slug": "sample-ramp", "step": "counting-characters"})
    ).content.decode()
    assert "Human TA" in page and "one by one" in page


def test_no_email_while_the_student_is_in_the_chat(
    case, conversation, course_ta, django_capture_on_commit_callbacks
):
    say(conversation, "hello?")
    with django_capture_on_commit_callbacks(execute=True):
        signed_in(course_ta).post(reverse("escalation_reply", args=[case.pk]), {"text": "Hi!"})
    assert Message.objects.filter(role=Message.Role.HUMAN).count() == 1
    assert mail.outbox == []


def test_resolve_with_a_category_then_replying_is_a_conflict(case, course_ta):
    desk = signed_in(course_ta)
    bad = desk.post(reverse("escalation_resolve", args=[case.pk]), {"resolution": "whatever"})
    assert bad.status_code == 400 and "Choose how the case was resolved" in bad.content.decode()
    done = desk.post(
        reverse("escalation_resolve", args=[case.pk]),
        {"resolution": "answered", "note": "explained Counter"},
    )
    assert done.status_code == 302 and done["Location"] == reverse("escalation_queue")
    case.refresh_from_db()
    assert case.state == Escalation.State.RESOLVED
    assert case.resolution == "answered" and case.resolved_by == course_ta
    late = desk.post(reverse("escalation_reply", args=[case.pk]), {"text": "one more thing"})
    assert late.status_code == 409 and "This case is resolved" in late.content.decode()
    assert not Message.objects.filter(role=Message.Role.HUMAN).exists()
    assert desk.post(reverse("escalation_claim", args=[case.pk])).status_code == 409
    queue = desk.get(reverse("escalation_queue")).content.decode()
    assert f"/ta/escalations/{case.pk}/" not in queue
    resolved = desk.get(reverse("escalation_queue"), {"state": "resolved"}).content.decode()
    assert f"/ta/escalations/{case.pk}/" in resolved


def test_an_empty_reply_is_bad_input(case, course_ta):
    response = signed_in(course_ta).post(
        reverse("escalation_reply", args=[case.pk]), {"text": "  "}
    )
    assert response.status_code == 400
    assert not Message.objects.filter(role=Message.Role.HUMAN).exists()


def test_the_nav_and_dashboard_lead_tas_to_the_desk(course_ta):
    page = signed_in(course_ta).get(reverse("dashboard")).content.decode()
    assert page.count(reverse("escalation_queue")) >= 2  # the nav's TA desk and the dashboard


# ---------------------------------------------------------------------------------------------
# Permissions, route by route

CASE_ROUTES = [
    ("get", "escalation_detail", {}),
    ("post", "escalation_claim", {}),
    ("post", "escalation_release", {}),
    ("post", "escalation_reply", {"text": "hello"}),
    ("post", "escalation_resolve", {"resolution": "answered"}),
]


@pytest.mark.parametrize(("method", "name", "data"), CASE_ROUTES)
def test_a_case_is_missing_for_a_ta_of_another_course_and_for_students(
    case, other_ta, sample_course, sample_student, method, name, data
):
    classmate = EnrollmentFactory(
        course=sample_course, user=UserFactory(username="classmate"), role=Role.STUDENT
    ).user
    url = reverse(name, args=[case.pk])
    for user in (other_ta, classmate, sample_student):
        response = getattr(signed_in(user), method)(url, data)
        assert response.status_code == 404, (user, name)
    case.refresh_from_db()
    assert case.state == Escalation.State.OPEN
    assert not Message.objects.filter(role=Message.Role.HUMAN).exists()


@pytest.mark.parametrize(("method", "name", "data"), CASE_ROUTES)
def test_every_case_route_asks_an_anonymous_visitor_to_log_in(case, method, name, data):
    response = getattr(Client(), method)(reverse(name, args=[case.pk]), data)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(("method", "name", "data"), CASE_ROUTES)
def test_the_courses_ta_instructor_and_staff_may_open_a_case(
    case, course_ta, sample_course, staff, method, name, data
):
    instructor = EnrollmentFactory(
        course=sample_course, user=UserFactory(username="prof"), role=Role.INSTRUCTOR
    ).user
    for user in (course_ta, instructor, staff):
        if method == "get":
            assert signed_in(user).get(reverse(name, args=[case.pk])).status_code == 200
    if method == "post":
        response = signed_in(course_ta).post(reverse(name, args=[case.pk]), data)
        # release of an unheld case is a conflict; everything else goes through
        expected = 409 if name == "escalation_release" else 302
        assert response.status_code == expected


def test_the_queue_is_for_course_staff_and_shows_only_their_courses(
    case, course_ta, other_ta, sample_student, outsider
):
    assert signed_in(sample_student).get(reverse("escalation_queue")).status_code == 403
    assert signed_in(outsider).get(reverse("escalation_queue")).status_code == 403
    anonymous = Client().get(reverse("escalation_queue"))
    assert anonymous.status_code == 302
    elsewhere = signed_in(other_ta).get(reverse("escalation_queue"))
    assert elsewhere.status_code == 200
    assert f"/ta/escalations/{case.pk}/" not in elsewhere.content.decode()
    assert "learner" not in elsewhere.content.decode()
    mine = signed_in(course_ta).get(reverse("escalation_queue")).content.decode()
    assert f"/ta/escalations/{case.pk}/" in mine and "learner" in mine


def test_a_student_can_only_ask_for_a_human_in_their_own_course(outsider, sample_course):
    url = reverse("ask_human_step", kwargs={"slug": "sample-ramp", "step": "counting-characters"})
    assert signed_in(outsider).post(url).status_code == 403
    assert Client().post(url).status_code == 302  # to the login page
    assert not Escalation.objects.exists() and not Conversation.objects.exists()


def test_asking_for_a_human_on_a_locked_step_is_refused(sample_student):
    url = reverse("ask_human_step", kwargs={"slug": "sample-ramp", "step": "bigram-sampling"})
    assert signed_in(sample_student).post(url).status_code == 403
    assert not Escalation.objects.exists()


def test_the_access_functions_scope_cases_to_the_courses_a_user_assists(
    case, course_ta, other_ta, staff, sample_student
):
    from eureka import access

    assert list(access.escalation_queue(course_ta)) == [case]
    assert list(access.escalation_queue(staff)) == [case]
    assert not access.escalation_queue(other_ta).exists()
    assert not access.escalation_queue(sample_student).exists()
