"""Log-in throttling (django-axes): which account a log-in attempt was for.

Axes counts failures per account and address. An attempt names the account by username or by
email (allauth's log-in takes either; the admin's takes the username), so both spellings are
brought to the one username: otherwise alternating them would double the guesses allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User


def attempted_account(request: HttpRequest | None, credentials: Mapping[str, Any] | None) -> str:
    """The username an attempt was for (lower case); what was typed when no account matches."""
    source: Mapping[str, Any] = credentials or (request.POST if request is not None else {})
    typed = next(
        (source[k] for k in ("username", "email", "login") if isinstance(source.get(k), str)), ""
    )
    typed = typed.strip().lower()
    if "@" in typed:
        username = (
            User.objects.filter(email__iexact=typed).values_list("username", flat=True).first()
        )
        if username:
            return username.lower()
    return typed


def lockout_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """The page for a refused log-in: what happened, for how long, and the way out (a password
    reset). 429, as for any request refused for coming too often."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    return render(request, "accounts/lockout.html", context, status=429)
