"""Redis stops under the app: a redis-server of the test's own carries the channel layer, the
cache and the Celery broker, and is stopped by its PID. Pages still render, the chat says it is
unavailable (and comes back with Redis), and nothing answers with a server error."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client

from eureka.asgi import application
from eureka.settings.base import REDIS_CACHE
from tests.eureka.test_celery_worker import celery_on_broker
from tests.tutor.test_ta_chat import ORIGIN, STEP, connect, student_cookie, until_complete_reply
from tutor.consumers import CHAT_UNAVAILABLE, CLOSE_UNAVAILABLE
from tutor.models import Message

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def course(sample_files):
    from courses import services

    course = services.course_import(files=sample_files).course
    services.course_publish(course=course, user=None)
    return course


@pytest.fixture
def on_own_redis(settings, own_redis):
    """The app's channel layer, cache and Celery broker on this test's own Redis, as in
    production (where REDIS_URL names one Redis for all three)."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [own_redis.url]},
        }
    }
    settings.CACHES = {"default": {**REDIS_CACHE, "LOCATION": own_redis.url}}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_on_broker(own_redis.url):
        yield own_redis


async def unavailable_notice(path: str, cookie: bytes) -> tuple[dict, int]:
    """Open a socket; return the frame it sends and the code it closes with."""
    socket = WebsocketCommunicator(application, path, headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await socket.connect(timeout=10)
    assert connected, "the socket is accepted, so the page can be told why it closes"
    frame = await socket.receive_json_from(timeout=10)
    closed = await socket.receive_output(timeout=10)
    assert closed["type"] == "websocket.close"
    await socket.wait()
    return frame, closed["code"]


async def test_with_redis_stopped_pages_render_and_the_chat_says_it_is_unavailable(
    course, on_own_redis
):
    user, cookie = await student_cookie(course)
    # Up: the chat and the cache really go through this Redis.
    open_chat = await connect(cookie)
    assert (await open_chat.receive_json_from(timeout=10))["type"] == "history"
    await sync_to_async(cache.set)("fault-probe", "on redis")
    assert await sync_to_async(cache.get)("fault-probe") == "on redis"

    on_own_redis.stop()

    # The chat: the socket that was open, and a new one, both say in words that it is
    # unavailable, then close with the code the page retries on.
    frame = await open_chat.receive_json_from(timeout=10)
    closed = await open_chat.receive_output(timeout=10)
    assert frame == {"type": "unavailable", "message": CHAT_UNAVAILABLE}
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAVAILABLE}
    frame, code = await unavailable_notice(STEP, cookie)
    assert frame == {"type": "unavailable", "message": CHAT_UNAVAILABLE}
    assert code == CLOSE_UNAVAILABLE
    frame, code = await unavailable_notice("/ws/notifications/", cookie)
    assert frame["type"] == "unavailable" and code == CLOSE_UNAVAILABLE

    # Pages, forms and the chat without JavaScript: no server errors.
    responses = await sync_to_async(browse_without_redis)(user)
    errors = {where: status for where, status in responses.items() if status >= 500}
    assert errors == {"/healthz": 503}, responses
    assert await sync_to_async(cache.get)("fault-probe") is None, "a miss, not an error"
    replies = await sync_to_async(list)(Message.objects.filter(role=Message.Role.ASSISTANT))
    assert replies and all(m.complete for m in replies), "the no-JS chat still answered"

    # Redis is back on its port: the chat works again, with no restart of the app (the page
    # retries every few seconds; here, sooner).
    on_own_redis.start()
    chat, history = await connect_when_back(cookie)
    try:
        assert history["messages"]
        await chat.send_json_to({"type": "message", "text": "What does Counter do?"})
        reply = await until_complete_reply(chat)
        assert reply["flags"]["generation_off"] is True  # no model here: the course answers
    finally:
        await chat.disconnect()


async def connect_when_back(cookie: bytes, tries: int = 10):
    """Reconnect as the page does after CLOSE_UNAVAILABLE, until the history comes."""
    for _ in range(tries):
        chat = await connect(cookie)
        first = await chat.receive_json_from(timeout=10)
        if first["type"] == "history":
            return chat, first
        await chat.wait()
        await asyncio.sleep(0.5)
    pytest.fail(f"the chat did not come back after {tries} tries")


def browse_without_redis(user) -> dict[str, int]:
    """What a student and a visitor do while Redis is down, and what a monitor sees; the
    status of each."""
    student = Client(raise_request_exception=False)
    student.force_login(user)
    visitor = Client(raise_request_exception=False)
    step = "/courses/sample-ramp/steps/counting-characters/"
    statuses = {}
    for path in ("/", "/dashboard/", "/courses/sample-ramp/", step, f"{step}?lang=fr"):
        statuses[path] = student.get(path).status_code
    answer = f"{step}exercises/count-l/"
    statuses[answer] = student.post(answer, {"answer": "2"}).status_code
    ta = f"{step}ta/"
    statuses[ta] = student.post(ta, {"text": "What does Counter do?"}).status_code
    statuses["/accounts/login/"] = visitor.get("/accounts/login/").status_code
    refused = visitor.post("/accounts/login/", {"login": "nobody", "password": "wrong-password"})
    statuses["a refused log-in"] = refused.status_code
    health = visitor.get("/healthz")
    statuses["/healthz"] = health.status_code
    checks = health.json()["checks"]
    assert checks["database"]["ok"] and not checks["channel_layer"]["ok"]
    assert not checks["celery_broker"]["ok"]
    return statuses
