import pytest
from django.test import override_settings

from tests.stand_in_model import stand_in_model


@pytest.fixture
def openai_compatible_server():
    with stand_in_model(["hello"], model="nanochat-d4") as url:
        yield url


def test_healthz_reports_each_part_and_is_degraded_without_model_worker(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    checks = body["checks"]
    assert set(checks) == {"database", "channel_layer", "celery_broker", "model_worker"}
    assert checks["database"]["ok"] and "pgvector" in checks["database"]["detail"]
    assert checks["channel_layer"]["ok"]
    assert checks["celery_broker"]["ok"] and "eager" in checks["celery_broker"]["detail"]
    assert checks["model_worker"] == {**checks["model_worker"], "ok": False, "required": False}


def test_healthz_is_ok_when_the_model_server_answers(client, db, openai_compatible_server):
    with override_settings(EUREKA_MODEL_BASE_URL=openai_compatible_server):
        body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert "nanochat-d4" in body["checks"]["model_worker"]["detail"]


def test_healthz_is_503_when_the_channel_layer_is_unreachable(client, db, free_port):
    # Nothing listens on free_port: the Redis channel layer cannot connect.
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port}/0"]},
        }
    }
    from channels.layers import channel_layers

    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        try:
            response = client.get("/healthz")
        finally:
            channel_layers.backends.clear()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert not body["checks"]["channel_layer"]["ok"]
    assert body["checks"]["database"]["ok"]


def test_healthz_is_503_when_the_broker_is_unreachable(client, db, free_port):
    from eureka.celery import app

    url = f"redis://127.0.0.1:{free_port}/0"
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        previous = app.conf.broker_url
        app.conf.broker_url = url
        try:
            response = client.get("/healthz")
        finally:
            app.conf.broker_url = previous
    assert response.status_code == 503
    assert not response.json()["checks"]["celery_broker"]["ok"]


@pytest.mark.redis
def test_healthz_is_ok_with_real_redis_layer_and_broker(
    client, db, redis_url, openai_compatible_server
):
    from channels.layers import channel_layers

    from eureka.celery import app

    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        }
    }
    with override_settings(
        CHANNEL_LAYERS=layers,
        CELERY_TASK_ALWAYS_EAGER=False,
        EUREKA_MODEL_BASE_URL=openai_compatible_server,
    ):
        channel_layers.backends.clear()
        previous = app.conf.broker_url
        app.conf.broker_url = redis_url
        try:
            response = client.get("/healthz")
        finally:
            app.conf.broker_url = previous
            channel_layers.backends.clear()
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["channel_layer"]["detail"] == "RedisChannelLayer"
    assert "broker reachable" in body["checks"]["celery_broker"]["detail"]
