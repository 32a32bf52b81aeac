import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client, override_settings

from eureka.asgi import application
from tests.factories import UserFactory
from tutor.consumers import CLOSE_UNAUTHENTICATED
from tutor.notifications import notify_user

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@sync_to_async
def signed_in_cookie(username):
    user = UserFactory(username=username)
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return user.pk, f"{settings.SESSION_COOKIE_NAME}={session}".encode()


@sync_to_async
def notify_after_commit(user_id, payload):
    with transaction.atomic():
        notify_user(user_id=user_id, payload=payload)


async def test_anonymous_socket_is_closed_with_unauthenticated_code():
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    assert connected
    closed = await communicator.receive_output()
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
    await communicator.disconnect()


async def test_socket_from_a_foreign_origin_is_refused():
    _, cookie = await signed_in_cookie("mallory")
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"origin", b"http://evil.example"), (b"cookie", cookie)],
    )
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_signed_in_user_receives_own_notifications_after_commit():
    user_id, cookie = await signed_in_cookie("noor")
    communicator = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    try:
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from() == {"type": "pong"}
        await notify_after_commit(user_id, {"text": "A TA answered your question."})
        message = await communicator.receive_json_from(timeout=2)
        assert message == {
            "type": "notification",
            "payload": {"text": "A TA answered your question."},
        }
        await communicator.send_json_to({"type": "shout"})
        assert (await communicator.receive_json_from())["type"] == "error"
    finally:
        await communicator.disconnect()


async def test_notifications_do_not_reach_other_users():
    alice_id, _ = await signed_in_cookie("alice")
    _, bob_cookie = await signed_in_cookie("bob")
    bob = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[ORIGIN, (b"cookie", bob_cookie)]
    )
    assert (await bob.connect())[0]
    try:
        await notify_after_commit(alice_id, {"text": "for alice"})
        assert await bob.receive_nothing(timeout=0.3)
    finally:
        await bob.disconnect()


@pytest.mark.redis
async def test_notification_crosses_processes_through_the_redis_channel_layer(redis_url):
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        try:
            user_id, cookie = await signed_in_cookie("rhea")
            communicator = WebsocketCommunicator(
                application, "/ws/notifications/", headers=[ORIGIN, (b"cookie", cookie)]
            )
            assert (await communicator.connect())[0]
            try:
                await notify_after_commit(user_id, {"text": "via redis"})
                message = await communicator.receive_json_from(timeout=3)
                assert message["payload"] == {"text": "via redis"}
            finally:
                await communicator.disconnect()
        finally:
            channel_layers.backends.clear()
