"""Live notifications to a signed-in user (TA replies, escalation updates)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from concurrent.futures import Future
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from redis.exceptions import RedisError

from eureka import access
from tutor import retrieval, ta

log = logging.getLogger(__name__)

# Close codes in the 4000-4999 range are ours to define.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_UNAVAILABLE = 4503
CHAT_UNAVAILABLE = (
    "The chat is unavailable right now: the service that carries its messages is down. The "
    "course pages, hints and answers still work, and the chat comes back by itself."
)
# What a channel layer raises when its backing service (Redis) is unreachable.
LAYER_ERRORS: tuple[type[BaseException], ...] = (RedisError, ConnectionError)


class LayerOutageMixin:
    """A socket whose channel layer is down tells the browser so, in words, and closes with
    CLOSE_UNAVAILABLE (the page then retries), instead of dying with an error. The layer fails
    either in a handler (joining a group, sending to one) or in Channels' own loop that reads
    the socket's channel; both end here."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        state = {"accepted": False, "closed": False}

        async def tracked_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            await super().__call__(scope, receive, tracked_send)  # type: ignore[misc]
        except LAYER_ERRORS as error:
            log.warning("a socket closed: the channel layer is unavailable (%r)", error)
            if state["closed"]:
                return
            # The browser may be gone already; then there is nobody left to tell.
            with contextlib.suppress(Exception):
                if not state["accepted"]:
                    await send({"type": "websocket.accept"})
                notice = {"type": "unavailable", "message": CHAT_UNAVAILABLE}
                await send({"type": "websocket.send", "text": json.dumps(notice)})
                await send({"type": "websocket.close", "code": CLOSE_UNAVAILABLE})


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class NotificationConsumer(LayerOutageMixin, AsyncJsonWebsocketConsumer):
    """Joins the user's group; `notify` events sent to that group reach the browser as JSON."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept, then close with our code: a refused handshake would only show the browser
            # a bare 403, and the page could not tell "log in again" from "not allowed".
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            # Leaving a group on a layer that is down: the group forgets this channel anyway.
            with contextlib.suppress(*LAYER_ERRORS):
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The browser only listens on this socket; it answers pings so clients can check liveness.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "message": "This socket only accepts pings."})

    async def notify(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "notification", "payload": event.get("payload", {})})


CLOSE_FORBIDDEN = 4403


class TAConsumer(LayerOutageMixin, AsyncJsonWebsocketConsumer):
    """The TA chat of one step (or of the whole course) for the signed-in student.

    On connect the socket gets the conversation's history, including a reply still being
    written; every open tab of the conversation then gets each event. Frames from the browser:
    {"type": "message", "text": ..., "client_id": ...} (a resend with the same client_id is not
    a new message) and {"type": "ping"}.
    """

    conversation_id: int | None = None
    group: str | None = None
    turn: ta.Turn | None = None  # the last turn this socket started
    closed = False

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            conversation = await _open_conversation(user, kwargs["slug"], kwargs.get("step", ""))
        except (Http404, PermissionDenied) as error:
            await self.send_json({"type": "error", "message": str(error) or "Not allowed."})
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.conversation_id = conversation.pk
        self.group = ta.group_name(conversation.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "history", "messages": await _history(conversation)})

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self.group is not None:
            # Leaving a group on a layer that is down: the group forgets this channel anyway.
            with contextlib.suppress(*LAYER_ERRORS):
                await self.channel_layer.group_discard(self.group, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return json.loads(text_data)
        except ValueError:
            return {"type": "malformed"}

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is None:
            await self.send_json({"type": "error", "message": "Send text frames of JSON."})
            return
        await super().receive(text_data=text_data, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.conversation_id is None:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
            return
        if kind != "message":
            await self.send_json(
                {"type": "error", "message": "Unknown frame: send a message or a ping."}
            )
            return
        text = content.get("text")
        client_id = content.get("client_id") or ""
        if not isinstance(text, str) or not isinstance(client_id, str) or len(client_id) > 64:
            await self.send_json(
                {"type": "error", "message": "A message needs text (and a short client_id)."}
            )
            return
        text = text.strip()
        if not text:
            await self.send_json({"type": "error", "message": "Write a message first."})
            return
        if len(text) > ta.MAX_MESSAGE_CHARS:
            await self.send_json(
                {
                    "type": "error",
                    "message": f"That message is {len(text)} characters long; the limit is "
                    f"{ta.MAX_MESSAGE_CHARS}. Shorten it and send again: your text is still "
                    "in the box.",
                }
            )
            return
        # The query's embedding (the longest wait of a turn's preparation) starts now, while
        # the message is stored; not while this socket's last reply is still being written
        # (this message is then refused).
        busy = self.turn is not None and self.turn.answering
        embedding = None if busy else retrieval.prefetch_query_embedding(text)
        user_id = self.scope["user"].pk
        posted = await _post(self.conversation_id, user_id, text, client_id, embedding)
        if (posted is None or posted.reply is None) and embedding is not None:
            embedding.cancel()
        if posted is None:
            await self.send_json(
                {"type": "error", "message": "The TA is still answering your last message."}
            )
            return
        events = [ta.reply_event(posted.message)]
        announced = asyncio.Event()  # set once the tabs have been sent the two messages
        if posted.reply is not None:
            events.append(ta.reply_event(posted.reply))
            # The turn starts now, planned with the post, beside the sends below (each of which
            # may wait its turn on a busy event loop); its own events wait for `announced`, so
            # the tabs see the student's message and the empty reply first.
            self.turn = ta.start_turn(
                ta.Ask(
                    self.conversation_id,
                    posted.message.pk,
                    posted.reply.pk,
                    embedding,
                    asker=self,
                    plan=posted.plan,
                    plan_ms=posted.plan_ms,
                    announced=announced,
                )
            )
        try:
            for event in events:
                try:
                    await self.deliver(event)
                except Exception:  # the socket is going: the layer's copy is all there is
                    await self.channel_layer.group_send(self.group, event)
                else:
                    await self.channel_layer.group_send(self.group, ta.sent_by(event, self))
        finally:
            # Also when the layer fails here (the socket then closes as unavailable): the turn
            # still answers the stored message, or the conversation would wait for it for good.
            announced.set()

    async def deliver(self, event: dict[str, Any]) -> None:
        """An event of this socket's own post or turn, sent without the round trip through
        the channel layer (whose copy, marked as sent by this socket, it then drops)."""
        if self.closed:
            raise ConnectionError("the socket is closed")
        await self.send_json({"type": "message", "message": event["message"]})

    async def ta_event(self, event: dict[str, Any]) -> None:
        if event.get("sent_by") == self.channel_name:
            return  # this socket sent it already, straight from its post or turn
        await self.send_json({"type": "message", "message": event["message"]})


@ta.in_db_thread
def _open_conversation(user: Any, slug: str, step: str) -> Any:
    study = access.access_course_for_study(user, slug)
    if step:
        access.access_step_for_study(user, study, step)
    return ta.conversation_for(user, study.course, step)


@ta.in_db_thread
def _history(conversation: Any) -> list[dict[str, Any]]:
    return ta.history_events(conversation)


@ta.in_db_thread
def _post(
    conversation_id: int,
    user_id: int,
    text: str,
    client_id: str,
    embedding: Future[list[float]] | None,
) -> ta.Posted | None:
    try:
        # The turn is planned with the post: one trip to the database pool, not two.
        return ta.post_and_plan(conversation_id, user_id, text, client_id, embedding)
    except ta.TurnInProgress:
        return None
