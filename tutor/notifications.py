"""Sending live events to browsers, always after the surrounding transaction commits.

Live events are best effort: what they carry is stored first, and a page shows it on its next
load (a chat on reconnect). So a channel layer that is down (Redis) costs the live update and a
warning in the log, never the request that made the change.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from tutor.consumers import LAYER_ERRORS, user_group

log = logging.getLogger(__name__)


def send_after_commit(*, group: str, event: dict[str, Any]) -> None:
    """Send `event` to the channel layer group once the current transaction commits."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, event)
        except LAYER_ERRORS as error:
            log.warning("a live event to %s was not sent: %r", group, error)

    transaction.on_commit(send)


def notify_user(*, user_id: int, payload: dict[str, Any]) -> None:
    send_after_commit(group=user_group(user_id), event={"type": "notify", "payload": payload})
