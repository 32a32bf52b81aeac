"""Sending live notifications to users, always after the surrounding transaction commits."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from tutor.consumers import user_group


def notify_user(*, user_id: int, payload: dict[str, Any]) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(
                user_group(user_id), {"type": "notify", "payload": payload}
            )

    transaction.on_commit(send)
