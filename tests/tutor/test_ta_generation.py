"""The TA with a real model: the course's nanochat model served by a real worker process (a tiny
fixture checkpoint whose text is noise; the pipeline is real), through the openai client."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from tests.stand_in_model import stand_in_model
from tests.tutor.test_ta_chat import (
    ask,
    chat_with_history_read,
    connect,
    student_cookie,
    until_complete_reply,
)
from tutor.models import Escalation, Message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def course(sample_files):
    from courses import services

    course = services.course_import(files=sample_files).course
    services.course_publish(course=course, user=None)
    return course


async def test_a_reply_streams_token_batches_from_the_worker_and_is_stored(
    course, settings, model_worker
):
    settings.EUREKA_MODEL_BASE_URL = model_worker
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    events = []
    try:
        await chat.receive_json_from()
        await chat.send_json_to({"type": "message", "text": "Why count?", "client_id": "g1"})
        while True:
            event = await chat.receive_json_from(timeout=60)
            if event["type"] == "message" and event["message"]["role"] == "assistant":
                events.append(event["message"])
                if event["message"]["complete"]:
                    break
    finally:
        await chat.disconnect()
    streamed = [e for e in events if not e["complete"] and e["html"]]
    assert streamed, "tokens arrive before the reply is complete"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    final = events[-1]
    assert not final["flags"].get("generation_off")
    reply = await sync_to_async(Message.objects.get)(role="assistant")
    assert reply.complete and reply.model == "nanochat"
    assert reply.completion_tokens > 0 and reply.prompt_tokens > 0
    assert 0 < reply.first_token_ms <= reply.latency_ms


async def test_the_asking_tab_gets_each_event_once_in_order_and_another_tab_the_same_reply(
    course, settings, model_worker
):
    """The socket that asked gets its own events straight from its post and turn, the other
    tabs through the channel layer; the layer's copies must not reach the asking tab again."""
    settings.EUREKA_MODEL_BASE_URL = model_worker
    _, cookie = await student_cookie(course)
    asking, other = await connect(cookie), await connect(cookie)
    try:
        await asking.receive_json_from()
        await other.receive_json_from()
        await asking.send_json_to({"type": "message", "text": "Why count?", "client_id": "o1"})
        seen = []
        while True:
            event = await asking.receive_json_from(timeout=60)
            seen.append(event["message"])
            if event["message"]["role"] == "assistant" and event["message"]["complete"]:
                break
        assert await asking.receive_nothing(timeout=0.5), "a copy arrived after the reply"
        final_elsewhere = await until_complete_reply(other, timeout=60)
    finally:
        await asking.disconnect()
        await other.disconnect()
    keys = [(m["id"], m["seq"]) for m in seen]
    assert len(keys) == len(set(keys)), f"an event came twice: {keys}"
    assert seen[0]["role"] == "student"  # the student's own message first
    reply = [m for m in seen if m["role"] == "assistant"]
    assert [m["seq"] for m in reply] == sorted(m["seq"] for m in reply)
    assert any(not m["complete"] and m["html"] for m in reply), "tokens streamed"
    assert final_elsewhere == reply[-1]


async def test_generation_resumes_when_the_model_is_back(course, settings, model_worker, free_port):
    settings.EUREKA_MODEL_BASE_URL = f"http://127.0.0.1:{free_port}/v1"
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    try:
        await chat.receive_json_from()
        await chat.send_json_to({"type": "message", "text": "Hello?", "client_id": "r1"})
        off = await until_complete_reply(chat)
        assert off["flags"]["generation_off"] is True
        settings.EUREKA_MODEL_BASE_URL = model_worker
        await chat.send_json_to({"type": "message", "text": "Hello again?", "client_id": "r2"})
        on = await until_complete_reply(chat)
        assert not on["flags"].get("generation_off")
    finally:
        await chat.disconnect()
    assert await sync_to_async(Message.objects.filter(role="student").count)() == 2


async def test_a_dropped_connection_gets_the_whole_reply_on_reconnect(
    course, settings, model_worker
):
    settings.EUREKA_MODEL_BASE_URL = model_worker
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    await chat.receive_json_from()
    await chat.send_json_to({"type": "message", "text": "Tell me about counts", "client_id": "d1"})
    await chat.receive_json_from()  # the student's own message echoed
    await chat.disconnect()  # gone before the reply is written
    reply = None
    for _ in range(100):
        reply = await sync_to_async(Message.objects.filter(role="assistant").first)()
        if reply is not None and reply.complete:
            break
        await __import__("asyncio").sleep(0.2)
    assert reply is not None and reply.complete and reply.content
    again = await connect(cookie)
    try:
        history = (await again.receive_json_from())["messages"]
        assert [m["role"] for m in history] == ["student", "assistant"]
        assert history[1]["complete"] and history[1]["html"]
    finally:
        await again.disconnect()


@pytest.fixture
def leaking_model():
    """The real model's noise cannot be made to leak on demand, and the guard must be proven
    inside the pipeline, between the stream and the student: a stand-in that gives the answer
    away (3, for count-l)."""
    pieces = ["Sure! ", "The letter l appears ", "3 times, ", "so the answer is 3."]
    with stand_in_model(pieces, model="leaky") as url:
        yield url


async def test_the_guard_replaces_a_reply_that_gives_the_answer_away(
    course, settings, leaking_model
):
    settings.EUREKA_MODEL_BASE_URL = leaking_model
    settings.EUREKA_CHAT_MODEL = "leaky"
    _, cookie = await student_cookie(course)
    chat = await connect(cookie)
    seen = []
    try:
        await chat.receive_json_from()
        await chat.send_json_to(
            {"type": "message", "text": "How many l are there? I think 2", "client_id": "leak"}
        )
        while True:
            event = await chat.receive_json_from(timeout=30)
            if event["type"] == "message" and event["message"]["role"] == "assistant":
                seen.append(event["message"]["html"])
                if event["message"]["complete"]:
                    final = event["message"]
                    break
    finally:
        await chat.disconnect()
    assert final["flags"]["guard_tripped"] is True
    assert not any("answer is 3" in html for html in seen), "the leak never reaches the student"
    reply = await sync_to_async(Message.objects.get)(role="assistant")
    assert "answer is 3" not in reply.content


async def test_the_guard_replacing_replies_in_two_turns_opens_a_case_for_a_human(
    course, settings, leaking_model
):
    settings.EUREKA_MODEL_BASE_URL = leaking_model
    settings.EUREKA_CHAT_MODEL = "leaky"
    _, cookie = await student_cookie(course)
    guard_cases = Escalation.objects.filter(reason=Escalation.Reason.GUARD)
    async with chat_with_history_read(cookie) as chat:
        for n in range(2):
            reply = await ask(chat, f"How many l are there? I think {n}", f"leak-{n}", 30)
            assert reply["flags"]["guard_tripped"]
        # The check runs once the reply is complete (on the database's threads).
        for _ in range(200):
            if await sync_to_async(guard_cases.exists)():
                break
            await asyncio.sleep(0.05)
    case = await sync_to_async(guard_cases.get)()
    assert case.trigger == "The guard replaced 2 of the AI TA's replies."
