from typing import Any

from django.http import HttpRequest

from eureka import access


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"nav": access.navigation_for(user)}
