"""Reachability of each part the web app depends on, checked separately and bounded in time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from eureka.celery import app as celery_app
from tutor import model_client


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool
    ms: float


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
        version = cursor.connection.info.server_version
    if row is None:
        raise RuntimeError("connected, but the vector extension is missing (run migrate)")
    return f"PostgreSQL {version // 10000} with pgvector {row[0]}"


def check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip() -> None:
        import asyncio

        channel = await layer.new_channel("healthz.")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "healthz.ping", "token": token})
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
        if message.get("token") != token:
            raise RuntimeError("channel layer returned a different message")

    async_to_sync(round_trip)()
    return type(layer).__name__


def check_celery_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager: tasks run in the web process (embedded mode)"
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return f"{conn.transport_cls} broker reachable"


def check_model_worker() -> str:
    models = model_client.list_models(timeout=2.0)
    return f"{len(models)} model(s): {', '.join(models) or 'none'}"


CHECKS: list[tuple[str, Callable[[], str], bool]] = [
    ("database", check_database, True),
    ("channel_layer", check_channel_layer, True),
    ("celery_broker", check_celery_broker, True),
    # The TA keeps working from authored material without the model: degraded, not down.
    ("model_worker", check_model_worker, False),
]


def run_checks() -> list[Check]:
    results = []
    for name, check, required in CHECKS:
        started = time.perf_counter()
        try:
            detail, ok = check(), True
        except Exception as error:  # a health check reports every failure, whatever its kind
            detail, ok = f"{type(error).__name__}: {error}"[:300], False
        elapsed = (time.perf_counter() - started) * 1000
        results.append(Check(name, ok, detail, required, round(elapsed, 1)))
    return results
