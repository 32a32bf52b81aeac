from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from eureka import health


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 "ok" when all is well, 200 "degraded" when only optional parts (the model worker) are
    down, 503 "down" when a required part is unreachable."""
    checks = health.run_checks()
    if any(c.required and not c.ok for c in checks):
        status, code = "down", 503
    elif all(c.ok for c in checks):
        status, code = "ok", 200
    else:
        status, code = "degraded", 200
    body = {
        "status": status,
        "checks": {
            c.name: {"ok": c.ok, "required": c.required, "detail": c.detail, "ms": c.ms}
            for c in checks
        },
    }
    return JsonResponse(body, status=code)
