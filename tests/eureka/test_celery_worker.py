from contextlib import contextmanager
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.tasks import clear_expired_sessions
from eureka.celery import app


@contextmanager
def celery_on_broker(url):
    """Point the app at a real broker and result backend for one test, then back to eager."""

    def forget_connections():
        # The result backend (per thread) and the connection pools are made once and cached.
        app._local.__dict__.pop("backend", None)
        app._pool = None
        app.amqp._producer_pool = None

    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=url, result_backend=url, task_always_eager=False)
    forget_connections()
    try:
        yield
    finally:
        app.conf.update(saved)
        forget_connections()


def test_celery_uses_json_late_acks_and_time_limits():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_tasks_run_eagerly_in_embedded_mode(db):
    stale = SessionStore()
    stale.create()
    Session.objects.filter(session_key=stale.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    assert clear_expired_sessions.delay().get() == 1


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_from_the_real_redis_broker(redis_url):
    stale, fresh = SessionStore(), SessionStore()
    stale.create()
    fresh.create()
    Session.objects.filter(session_key=stale.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    with (
        celery_on_broker(redis_url),
        start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"),
    ):
        result = clear_expired_sessions.delay()
        assert result.get(timeout=20) == 1
        assert result.status == "SUCCESS"
    assert not Session.objects.filter(session_key=stale.session_key).exists()
    assert Session.objects.filter(session_key=fresh.session_key).exists()
