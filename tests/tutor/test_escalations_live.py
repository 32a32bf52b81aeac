"""Escalations under real concurrency and over real sockets: two TAs claiming one case at the same
moment, and a human TA's reply arriving live in the student's open chat and notifications."""

import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse

from eureka.asgi import application
from tests.factories import EnrollmentFactory, UserFactory
from tutor import escalations, ta
from tutor.models import Escalation, Message, Role

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
STEP = "/ws/ta/sample-ramp/counting-characters/"


def a_case(course, student):
    conversation = ta.conversation_for(student, course, "counting-characters")
    return escalations.escalation_request_human(conversation=conversation)


def a_ta(course, username):
    return EnrollmentFactory(course=course, user=UserFactory(username=username), role=Role.TA).user


def test_two_tas_claiming_at_once_exactly_one_wins(sample_course, sample_student):
    case = a_case(sample_course, sample_student)
    tas = [a_ta(sample_course, "first"), a_ta(sample_course, "second")]
    for _ in range(5):  # a few rounds, to give the race every chance
        Escalation.objects.filter(pk=case.pk).update(
            state=Escalation.State.OPEN, claimed_by=None, claimed_at=None
        )
        start = threading.Barrier(2)
        results: dict[str, str] = {}

        def claim(user, start=start, results=results):
            try:
                start.wait()
                escalations.escalation_claim(escalation=case, user=user)
                results[user.username] = "won"
            except escalations.EscalationConflict:
                results[user.username] = "refused"
            finally:
                close_old_connections()

        threads = [threading.Thread(target=claim, args=(user,)) for user in tas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(results.values()) == ["refused", "won"]
        winner = next(name for name, result in results.items() if result == "won")
        case.refresh_from_db()
        assert case.state == Escalation.State.CLAIMED
        assert case.claimed_by.username == winner


def test_two_tas_posting_claim_at_once_over_http_one_gets_409(sample_course, sample_student):
    case = a_case(sample_course, sample_student)
    clients = []
    for name in ("first", "second"):
        client = Client()
        client.force_login(a_ta(sample_course, name))
        clients.append(client)
    start = threading.Barrier(2)
    codes: list[int] = []

    def post(client):
        try:
            start.wait()
            codes.append(client.post(reverse("escalation_claim", args=[case.pk])).status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(codes) == [302, 409]


@sync_to_async
def setup_case(course):
    student = EnrollmentFactory(
        course=course, user=UserFactory(username="waiting"), role=Role.STUDENT
    ).user
    client = Client()
    client.force_login(student)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    case = a_case(course, student)
    return case, a_ta(course, "live-helper"), cookie.encode()


@sync_to_async
def reply_through_the_desk(case, helper, text):
    client = Client()
    client.force_login(helper)
    return client.post(reverse("escalation_reply", args=[case.pk]), {"text": text}).status_code


async def test_a_human_tas_reply_appears_live_in_the_students_chat_and_notifications(
    sample_course,
):
    case, helper, cookie = await setup_case(sample_course)
    headers = [ORIGIN, (b"cookie", cookie)]
    chat = WebsocketCommunicator(application, STEP, headers=headers)
    notes = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
    assert (await chat.connect())[0] and (await notes.connect())[0]
    try:
        history = await chat.receive_json_from()
        assert history["type"] == "history"
        status = await reply_through_the_desk(case, helper, "Try counting **each** `l`.")
        assert status == 302
        event = await chat.receive_json_from(timeout=5)
        assert event["type"] == "message"
        message = event["message"]
        assert message["role"] == "human" and message["complete"] is True
        assert "<strong>each</strong>" in message["html"]
        assert message["flags"]["escalation"] == case.pk
        note = await notes.receive_json_from(timeout=5)
        assert note["type"] == "notification"
        assert note["payload"]["type"] == "ta_reply" and note["payload"]["from"] == "Human TA"
        assert note["payload"]["url"].startswith("/courses/sample-ramp/steps/counting-characters/")
    finally:
        await chat.disconnect()
        await notes.disconnect()
    # Reconnecting later replays it: the reply was stored, not only sent.
    again = WebsocketCommunicator(application, STEP, headers=headers)
    assert (await again.connect())[0]
    try:
        history = await again.receive_json_from()
        assert [m["role"] for m in history["messages"]] == ["human"]
    finally:
        await again.disconnect()
    stored = await sync_to_async(Message.objects.get)(role=Message.Role.HUMAN)
    assert stored.author_id == helper.pk
