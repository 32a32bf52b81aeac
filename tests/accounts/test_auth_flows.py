import re

from django.core import mail

from accounts.models import User
from tests.factories import PASSWORD, UserFactory


def test_sign_up_creates_account_and_signs_in(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "ada@example.org",
            "username": "ada",
            "password1": "a long enough passphrase 42",
            "password2": "a long enough passphrase 42",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert User.objects.filter(username="ada", email="ada@example.org").exists()
    assert response.context["user"].username == "ada"
    assert response.redirect_chain[-1][0] == "/dashboard/"


def test_sign_up_with_bad_input_shows_form_errors_and_keeps_what_was_typed(client, db):
    UserFactory(username="taken", email="taken@example.org")
    response = client.post(
        "/accounts/signup/",
        {"email": "taken@example.org", "username": "newname", "password1": "x", "password2": "y"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="newname"' in html
    assert "already registered" in html or "already" in html
    assert not User.objects.filter(username="newname").exists()


def test_log_in_by_email_and_by_username_then_log_out(client, db):
    UserFactory(username="grace", email="grace@example.org")
    for login in ("grace@example.org", "grace"):
        response = client.post("/accounts/login/", {"login": login, "password": PASSWORD})
        assert response.status_code == 302, login
        assert client.get("/dashboard/").status_code == 200
        client.post("/accounts/logout/")
        assert client.get("/dashboard/").status_code == 302


def test_wrong_password_is_refused_with_a_message(client, db):
    UserFactory(username="grace")
    response = client.post("/accounts/login/", {"login": "grace", "password": "nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()


def test_password_reset_mails_a_link_that_sets_a_new_password(client, db):
    UserFactory(username="lin", email="lin@example.org")
    response = client.post("/accounts/password/reset/", {"email": "lin@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    assert link is not None
    form_page = client.get(link.group(1), follow=True)
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1)
    new = "a brand new passphrase 7"
    done = client.post(action, {"password1": new, "password2": new})
    assert done.status_code == 302
    client.logout()
    assert client.post("/accounts/login/", {"login": "lin", "password": new}).status_code == 302


def test_auth_pages_use_the_eureka_layout(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert '<nav aria-label="Main">' in html
    assert "vendor/pico/pico.min.css" in html
