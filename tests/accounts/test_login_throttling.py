"""Log-in throttling (django-axes behind allauth's log-in and the admin's): after the allowed
number of wrong passwords, the next log-in to that account from that address is refused, even
with the right password, with a page that says why and for how long; other accounts, and the
same account from another address, still get in."""

import pytest
from django.conf import settings
from django.core.cache import cache

from tests.factories import PASSWORD, UserFactory

LIMIT = settings.AXES_FAILURE_LIMIT


@pytest.fixture(autouse=True)
def _no_rate_limit_left_over():
    # allauth's per-address limiter counts in the cache, which outlives a test.
    cache.clear()


def log_in(client, login, password, address="10.0.0.1"):
    return client.post(
        "/accounts/login/", {"login": login, "password": password}, REMOTE_ADDR=address
    )


def fail_until_locked(client, login, address="10.0.0.1"):
    for attempt in range(1, LIMIT + 1):
        response = log_in(client, login, "wrong password", address)
        if attempt < LIMIT:
            assert response.status_code == 200, attempt
            assert "not correct" in response.content.decode()
    return response


def test_the_attempt_after_the_limit_is_refused_with_the_right_password_and_a_clear_page(
    client, db
):
    UserFactory(username="grace", email="grace@example.org")
    locked = fail_until_locked(client, "grace")
    assert locked.status_code == 429
    response = log_in(client, "grace", PASSWORD)
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed log-ins" in html
    assert f"After {LIMIT} wrong passwords" in html
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    assert f"paused for {minutes} minutes" in html
    assert 'href="/accounts/password/reset/"' in html
    assert '<nav aria-label="Main">' in html  # in Eureka's layout
    assert client.get("/dashboard/").status_code == 302  # not logged in


def test_other_accounts_and_other_addresses_still_get_in(client, db):
    UserFactory(username="grace", email="grace@example.org")
    UserFactory(username="lin")
    fail_until_locked(client, "grace")
    assert log_in(client, "lin", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    assert log_in(client, "grace", PASSWORD, address="10.0.0.2").status_code == 302


def test_username_and_email_count_as_the_same_account(client, db):
    UserFactory(username="grace", email="grace@example.org")
    for attempt in range(LIMIT):
        login = "Grace@Example.org" if attempt % 2 else "grace"
        log_in(client, login, "wrong password")
    assert log_in(client, "grace@example.org", PASSWORD).status_code == 429


def test_a_success_before_the_limit_starts_the_count_again(client, db):
    UserFactory(username="grace")
    for _ in range(LIMIT - 1):
        log_in(client, "grace", "wrong password")
    assert log_in(client, "grace", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(LIMIT - 1):
        log_in(client, "grace", "wrong password")
    assert log_in(client, "grace", PASSWORD).status_code == 302


def test_the_admin_log_in_is_throttled_too(client, db):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    for _ in range(LIMIT):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_the_lockout_page_comes_through_the_asgi_stack(async_client):
    """Production serves through ASGI, where the middleware runs its async path."""
    from asgiref.sync import sync_to_async

    await sync_to_async(UserFactory)(username="grace")
    await sync_to_async(cache.clear)()
    for _ in range(LIMIT):
        await async_client.post("/accounts/login/", {"login": "grace", "password": "wrong"})
    response = await async_client.post("/accounts/login/", {"login": "grace", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
