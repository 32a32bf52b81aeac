"""The Content Security Policy header (django-csp), with the page's own WebSocket origin.

CSP Level 3 lets `connect-src 'self'` cover ws:// and wss:// to the page's host, but browsers
that predate it (older Safari) refuse the TA chat's socket under it. So the policy in settings
(CONTENT_SECURITY_POLICY) gets, per request, the one WebSocket origin the page may open: its
own host, wss:// when the page came over HTTPS.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase


class CSPMiddleware(BaseCSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts  # answered 400 already; no page to open a socket from
        scheme = "wss" if request.is_secure() else "ws"
        parts.update = {**(parts.update or {}), "connect-src": [f"{scheme}://{host}"]}
        return parts
