from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request a `login_required` view receives: its user is signed in (and, as on every
    request here, `htmx` tells whether htmx sent it)."""

    user: User
    htmx: HtmxDetails
