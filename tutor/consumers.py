"""Live notifications to a signed-in user (TA replies, escalation updates)."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

# Close codes in the 4000-4999 range are ours to define.
CLOSE_UNAUTHENTICATED = 4401


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class NotificationConsumer(AsyncJsonWebsocketConsumer):
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
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The browser only listens on this socket; it answers pings so clients can check liveness.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "message": "This socket only accepts pings."})

    async def notify(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "notification", "payload": event.get("payload", {})})
