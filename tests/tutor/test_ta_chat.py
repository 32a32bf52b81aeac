"""The TA chat over a real WebSocket stack, with no chat model reachable (authored-only mode):
the protocol, persistence, reconnects, duplicates, limits and bad frames."""

import asyncio
import contextlib
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from eureka.asgi import application
from tests.factories import EnrollmentFactory, UserFactory
from tutor.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from tutor.models import Message, Role

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
STEP = "/ws/ta/sample-ramp/counting-characters/"


@pytest.fixture
def course(sample_files):
    from courses import services

    course = services.course_import(files=sample_files).course
    services.course_publish(course=course, user=None)
    return course


@sync_to_async
def student_cookie(course, username="chatty"):
    user = EnrollmentFactory(
        course=course, user=UserFactory(username=username), role=Role.STUDENT
    ).user
    client = Client()
    client.force_login(user)
    return (
        user,
        f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode(),
    )


async def connect(cookie, path=STEP):
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def until_complete_reply(communicator, timeout=20):
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        if (
            event["type"] == "message"
            and event["message"]["role"] == "assistant"
            and event["message"]["complete"]
        ):
            return event["message"]


@contextlib.asynccontextmanager
async def chat_with_history_read(cookie, path=STEP):
    """A connected chat socket whose history event has been read; disconnected at the end."""
    chat = await connect(cookie, path)
    try:
        await chat.receive_json_from()
        yield chat
    finally:
        await chat.disconnect()


async def ask(communicator, text, client_id, timeout=20):
    """Send the TA a message and wait for its complete reply."""
    await communicator.send_json_to({"type": "message", "text": text, "client_id": client_id})
    return await until_complete_reply(communicator, timeout)


async def test_history_comes_first_and_a_question_gets_an_authored_reply_when_generation_is_off(
    course,
):
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    try:
        assert await chat.receive_json_from() == {"type": "history", "messages": []}
        await chat.send_json_to(
            {"type": "message", "text": "What does Counter do?", "client_id": "c1"}
        )
        echoed = await chat.receive_json_from()
        assert echoed["message"]["role"] == "student" and "Counter" in echoed["message"]["html"]
        reply = await until_complete_reply(chat)
        assert reply["flags"]["generation_off"] is True
        assert "Generation is off" in reply["html"]
        assert "A hint for this exercise" in reply["html"]
    finally:
        await chat.disconnect()
    stored = await sync_to_async(list)(
        Message.objects.order_by("id").values_list("role", "complete")
    )
    assert stored == [("student", True), ("assistant", True)]


async def test_the_socket_plans_the_turn_with_the_post_once(course, monkeypatch):
    from tutor import ta

    planned = []
    real = ta.plan_turn

    def counted(*args, **kwargs):
        planned.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(ta, "plan_turn", counted)
    _, cookie = await student_cookie(course)
    async with chat_with_history_read(cookie) as chat:
        reply = await ask(chat, "What does Counter do?", "p")
    student = await sync_to_async(Message.objects.get)(role="student")
    assert planned == [student.pk]  # once, with the post; the turn did not plan again
    assert reply["flags"]["generation_off"] is True and reply["flags"]["plan_ms"] >= 0


async def test_a_turn_whose_planning_fails_says_so_and_keeps_the_message(course, monkeypatch):
    from tutor import ta

    def broken(*args, **kwargs):
        raise RuntimeError("the course could not be read")

    monkeypatch.setattr(ta, "plan_turn", broken)
    _, cookie = await student_cookie(course)
    async with chat_with_history_read(cookie) as chat:
        reply = await ask(chat, "What does Counter do?", "b")
        assert "Something went wrong on our side" in reply["html"] and reply["flags"]["error"]
        # The conversation is not left waiting: the next message gets its own turn.
        assert "Something went wrong" in (await ask(chat, "And now?", "b2"))["html"]
    stored = await sync_to_async(list)(
        Message.objects.order_by("id").values_list("role", "content", "complete")
    )
    assert [(r, c) for r, c, _ in stored if r == "student"] == [
        ("student", "What does Counter do?"),
        ("student", "And now?"),
    ]
    assert all(complete for _, _, complete in stored)


async def test_asking_for_help_gives_the_next_authored_hint_first(course):
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    try:
        await chat.receive_json_from()
        await chat.send_json_to(
            {"type": "message", "text": "I'm stuck, can I have a hint?", "client_id": "h1"}
        )
        reply = await until_complete_reply(chat)
        assert "Here is the next hint (1 of 2)" in reply["html"]
        assert "one character at a time" in reply["html"]
        assert reply["flags"]["source"] == "authored_hint"
    finally:
        await chat.disconnect()


async def test_a_resent_message_is_not_doubled_and_reconnect_replays_everything(course):
    _, cookie = await student_cookie(course)
    first = await connect(cookie)
    await first.receive_json_from()
    await first.send_json_to(
        {"type": "message", "text": "Why count characters?", "client_id": "same"}
    )
    await until_complete_reply(first)
    await first.disconnect()
    second = await connect(cookie)
    try:
        history = await second.receive_json_from()
        assert [m["role"] for m in history["messages"]] == ["student", "assistant"]
        # The browser did not see the acknowledgement and sends the same message again.
        await second.send_json_to(
            {"type": "message", "text": "Why count characters?", "client_id": "same"}
        )
        echoed = await second.receive_json_from()
        assert echoed["message"]["id"] == history["messages"][0]["id"]
        assert await second.receive_nothing(timeout=0.5)
    finally:
        await second.disconnect()
    assert await sync_to_async(Message.objects.count)() == 2


async def test_two_tabs_see_the_same_conversation(course):
    _, cookie = await student_cookie(course)
    tab1, tab2 = await connect(cookie), await connect(cookie)
    try:
        await tab1.receive_json_from()
        await tab2.receive_json_from()
        await tab1.send_json_to(
            {"type": "message", "text": "Hello from tab one", "client_id": "t1"}
        )
        reply1 = await until_complete_reply(tab1)
        reply2 = await until_complete_reply(tab2)
        assert reply1 == reply2
    finally:
        await tab1.disconnect()
        await tab2.disconnect()


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"type": "message", "text": "   ", "client_id": "e"}, "Write a message first."),
        ({"type": "message", "text": "x" * 2001, "client_id": "big"}, "the limit is 2000"),
        ({"type": "message", "text": 42}, "needs text"),
        ({"type": "dance"}, "Unknown frame"),
    ],
)
async def test_bad_frames_get_a_clear_error_and_the_socket_keeps_serving(course, frame, expected):
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    try:
        await chat.receive_json_from()
        await chat.send_json_to(frame)
        error = await chat.receive_json_from()
        assert error["type"] == "error" and expected in error["message"]
        await chat.send_json_to({"type": "ping"})
        assert await chat.receive_json_from() == {"type": "pong"}
    finally:
        await chat.disconnect()
    assert await sync_to_async(Message.objects.count)() == 0


async def test_malformed_json_frame_is_answered_not_fatal(course):
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    try:
        await chat.receive_json_from()
        await chat.send_to(text_data="{not json")
        assert (await chat.receive_json_from())["type"] == "error"
        await chat.send_to(bytes_data=b"\x00\x01")
        assert (await chat.receive_json_from())["type"] == "error"
    finally:
        await chat.disconnect()


async def test_locked_steps_and_strangers_are_refused_with_close_codes(course):
    _, cookie = await student_cookie(course)
    locked = WebsocketCommunicator(
        application, "/ws/ta/sample-ramp/probabilities/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    await locked.connect()
    refusal = await locked.receive_json_from()
    assert "unlocks once you have learnt" in refusal["message"]
    assert (await locked.receive_output())["code"] == CLOSE_FORBIDDEN
    await locked.disconnect()
    anonymous = WebsocketCommunicator(application, STEP, headers=[ORIGIN])
    await anonymous.connect()
    assert (await anonymous.receive_output())["code"] == CLOSE_UNAUTHENTICATED
    await anonymous.disconnect()


async def test_a_student_flooding_messages_gets_a_friendly_limit(course, settings):
    settings.EUREKA_TA_MESSAGES_PER_MINUTE = 2
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    try:
        await chat.receive_json_from()
        texts = []
        for i in range(4):
            await chat.send_json_to(
                {"type": "message", "text": f"question {i}", "client_id": f"f{i}"}
            )
            texts.append((await until_complete_reply(chat))["html"])
        assert "faster than I can answer" in texts[-1]
        assert "faster than I can answer" not in texts[0]
    finally:
        await chat.disconnect()
    assert await sync_to_async(Message.objects.filter(role="student").count)() == 4  # nothing lost


def test_the_chat_works_without_javascript(client, sample_student):
    client.force_login(sample_student)
    page = "/courses/sample-ramp/steps/counting-characters/"
    assert 'class="ta-panel"' in client.get(page).content.decode()
    response = client.post(f"{page}ta/", {"text": "What is a bigram?"}, follow=True)
    html = response.content.decode()
    assert "What is a bigram?" in html
    assert "Generation is off" in html
    empty = client.post(f"{page}ta/", {"text": "  "}, follow=True)
    assert "Write a message first." in empty.content.decode()


def test_course_level_ask_the_ta_is_on_the_course_page(client, sample_student):
    client.force_login(sample_student)
    html = client.get("/courses/sample-ramp/").content.decode()
    assert 'data-ws-path="/ws/ta/sample-ramp/"' in html


def test_messages_are_stored_with_their_flags(client, sample_student):
    client.force_login(sample_student)
    client.post("/courses/sample-ramp/ta/", {"text": "Where do I start?"})
    reply = Message.objects.get(role="assistant")
    assert reply.complete and reply.flags["generation_off"]
    assert reply.latency_ms >= 0
    assert json.dumps(reply.flags)


async def test_a_turns_bookkeeping_is_done_by_the_time_its_reply_is_complete(course):
    """The escalation rules and the study time run while the reply is written (off its path),
    yet whoever sees the reply complete sees the case opened and the time counted."""
    from tutor.models import Escalation, StudyTime

    user, cookie = await student_cookie(course)
    chat = await connect(cookie)
    try:
        await chat.receive_json_from()
        await chat.send_json_to(
            {"type": "message", "text": "Can I talk to a human TA please?", "client_id": "b1"}
        )
        await until_complete_reply(chat)
        reasons = await sync_to_async(list)(
            Escalation.objects.filter(conversation__user=user).values_list("reason", flat=True)
        )
        assert Escalation.Reason.ASKED in reasons
        assert await sync_to_async(
            StudyTime.objects.filter(user=user, step_slug="counting-characters").exists
        )()
    finally:
        await chat.disconnect()


def test_a_message_to_someone_elses_conversation_is_refused_and_nothing_is_stored(
    sample_course, sample_student
):
    from tutor import ta
    from tutor.models import Conversation

    conversation = ta.conversation_for(sample_student, sample_course, "counting-characters")
    stranger = EnrollmentFactory(course=sample_course, user=UserFactory(username="nosy")).user

    with pytest.raises(Conversation.DoesNotExist):
        ta.post_student_message(
            conversation_id=conversation.pk, user_id=stranger.pk, text="Hi", client_id="x"
        )
    assert Message.objects.count() == 0


def test_a_second_message_while_the_reply_is_pending_is_refused_and_a_resend_is_not(
    sample_course, sample_student
):
    from tutor import ta

    conversation = ta.conversation_for(sample_student, sample_course, "counting-characters")
    post = {"conversation_id": conversation.pk, "user_id": sample_student.pk}
    first = ta.post_student_message(**post, text="Why count?", client_id="a")

    with pytest.raises(ta.TurnInProgress):
        ta.post_student_message(**post, text="Hello?", client_id="b")
    again = ta.post_student_message(**post, text="Why count?", client_id="a")

    assert first.created and first.reply is not None and not first.reply.complete
    assert not again.created and again.message.pk == first.message.pk and again.reply is None
    assert list(Message.objects.order_by("id").values_list("role", "content")) == [
        ("student", "Why count?"),
        ("assistant", ""),
    ]


def test_the_daily_token_budget_counts_the_last_day_of_replies_only(
    sample_course, sample_student, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from tutor import ta

    settings.EUREKA_TA_TOKENS_PER_DAY = 100
    conversation = ta.conversation_for(sample_student, sample_course, "counting-characters")
    old = Message.objects.create(
        conversation=conversation, role="assistant", content="old", completion_tokens=500
    )
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert ta.limit_reached(sample_student.pk) == ""
    Message.objects.create(
        conversation=conversation, role="assistant", content="new", completion_tokens=60
    )
    assert ta.limit_reached(sample_student.pk) == ""
    Message.objects.create(
        conversation=conversation, role="assistant", content="more", completion_tokens=40
    )
    assert "budget for today is spent" in ta.limit_reached(sample_student.pk)
    other = UserFactory(username="quiet")
    assert ta.limit_reached(other.pk) == ""


async def test_a_late_layer_copy_of_an_event_the_socket_was_handed_never_reaches_it(
    course, settings
):
    """However late the channel layer's copy of a turn's event arrives (under load, seconds,
    several turns on), the socket that asked, which was handed the event directly, drops it;
    a socket of another tab shows it. The copy is sent into the conversation's group by hand:
    a late delivery cannot be caused on purpose."""
    from channels.layers import get_channel_layer

    from tutor import ta

    # The in-memory layer, whatever REDIS_URL says: its groups show the sockets' channels.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _, cookie = await student_cookie(course)
    asking, other = await connect(cookie), await connect(cookie)
    try:
        await asking.receive_json_from()
        await other.receive_json_from()
        await asking.send_json_to({"type": "message", "text": "Why count?", "client_id": "l1"})
        reply = await until_complete_reply(asking)
        await until_complete_reply(other)
        conversation_id = (await sync_to_async(Message.objects.get)(pk=reply["id"])).conversation_id
        layer = get_channel_layer()
        members = list(layer.groups[ta.group_name(conversation_id)])
        event = {"type": "ta.event", "message": reply}
        for channel in members:  # one of them is the asking socket's
            await layer.group_send(ta.group_name(conversation_id), {**event, "sent_by": channel})
        # Each socket gets the copies marked as sent to the other socket, and not its own.
        assert (await asking.receive_json_from())["message"] == reply
        assert (await other.receive_json_from())["message"] == reply
        assert await asking.receive_nothing(timeout=0.3)
        assert await other.receive_nothing(timeout=0.3)
    finally:
        await asking.disconnect()
        await other.disconnect()


class SlowToShareTheStudentsMessage(InMemoryChannelLayer):
    """A channel layer that takes a second to pass the student's own message to the
    conversation's other tabs (a busy Redis, or an event loop busy with other students'
    replies): a fake, as such a delay cannot be caused on purpose."""

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if message.get("message", {}).get("role") == "student":
            await asyncio.sleep(1.0)
        await super().group_send(group, message)


async def test_the_turn_starts_while_the_post_is_shared_but_its_events_come_after(course, settings):
    """The turn is prepared while the post's events go out; its own events wait for them, so a
    tab sees the student's message, the empty reply, then the reply, whatever the layer's pace."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": f"{__name__}.{SlowToShareTheStudentsMessage.__name__}"}
    }
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    seen = []
    try:
        await chat.receive_json_from()
        await chat.send_json_to({"type": "message", "text": "Why count?", "client_id": "s1"})
        while not seen or not (seen[-1]["role"] == "assistant" and seen[-1]["complete"]):
            seen.append((await chat.receive_json_from(timeout=20))["message"])
        assert await chat.receive_nothing(timeout=0.3)
    finally:
        await chat.disconnect()
    assert [(m["role"], m["complete"], m["seq"]) for m in seen] == [
        ("student", True, 0),
        ("assistant", False, 0),
        ("assistant", True, 1),
    ]
