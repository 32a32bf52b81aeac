"""The security settings a browser sees: the Content Security Policy on every page (and pages
written so that it costs them nothing), and what production adds: HTTPS only, HSTS, secure
cookies."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.eureka.test_deploy import PRODUCTION_ENV, ROOT

TEMPLATES = ROOT / "templates"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def test_pages_carry_a_policy_that_allows_no_inline_script_or_style(client, db):
    csp = policy(client.get("/"))
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    everything = " ".join(v for values in csp.values() for v in values)
    assert "unsafe" not in everything  # neither 'unsafe-inline' nor 'unsafe-eval'


def test_the_chat_may_open_a_websocket_to_the_pages_own_host_only(client, db):
    assert policy(client.get("/"))["connect-src"] == ["'self'", "ws://testserver"]
    assert policy(client.get("/", secure=True))["connect-src"] == ["'self'", "wss://testserver"]


def test_error_pages_and_the_login_page_carry_the_policy_too(client, db):
    for path in ("/no-such-page/", "/accounts/login/", "/admin/login/"):
        assert "script-src 'self'" in client.get(path)["Content-Security-Policy"], path


def _template_files() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", _template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_script_handler_or_style(path):
    """What the policy would block: scripts without src, on* handlers, javascript: URLs,
    <style> elements and style attributes. (Pages must still work, so keep them out.)"""
    html = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), "on* event handler"
    assert "javascript:" not in html.lower()
    assert not re.search(r"<style\b", html, re.IGNORECASE), "<style> element"
    assert not re.search(r"\sstyle\s*=", html, re.IGNORECASE), "style attribute"
    assert not re.search(r"\bhx-on\b|hx-on:", html), "htmx inline handler"


def test_htmx_injects_no_style_and_evaluates_no_strings():
    config = re.search(
        r"name=\"htmx-config\" content='([^']*)'", (TEMPLATES / "base.html").read_text()
    )
    assert config is not None
    settings = json.loads(config.group(1))
    assert settings["includeIndicatorStyles"] is False
    assert settings["allowEval"] is False


def test_our_scripts_do_not_evaluate_strings():
    for script in (ROOT / "static" / "js").glob("*.js"):
        text = script.read_text()
        assert not re.search(r"\beval\(|new Function\(|setTimeout\(\s*['\"]", text), script.name


def test_production_is_https_only_with_hsts_and_secure_cookies(subprocess_env):
    code = (
        "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) "
        "for k in ['SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS',"
        " 'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE',"
        " 'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_HTTPONLY', 'SESSION_COOKIE_NAME',"
        " 'CSRF_COOKIE_NAME', 'MIDDLEWARE', 'AUTHENTICATION_BACKENDS']}))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**subprocess_env, **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["SECURE_SSL_REDIRECT"] is True
    assert found["SECURE_HSTS_SECONDS"] >= 31536000 and found["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert found["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert found["SESSION_COOKIE_SECURE"] and found["CSRF_COOKIE_SECURE"]
    assert found["SESSION_COOKIE_HTTPONLY"] and found["CSRF_COOKIE_HTTPONLY"]
    assert found["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert found["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert "eureka.csp.CSPMiddleware" in found["MIDDLEWARE"]
    assert found["AUTHENTICATION_BACKENDS"][0] == "axes.backends.AxesStandaloneBackend"
