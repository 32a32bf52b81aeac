"""The one place that reads the process environment.

Every setting that comes from the environment is read through an `Env` getter, so a missing or
malformed value always stops start-up with a message that names the variable. A variable that is
unset and has a default selects that default (for most variables: the embedded mode), never a
silent fake.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_NOT_SET: Any = object()


class Env:
    def __init__(self, environ_: Mapping[builtins.str, builtins.str] | None = None) -> None:
        self._environ = os.environ if environ_ is None else environ_

    def is_set(self, name: builtins.str) -> builtins.bool:
        return bool(self._environ.get(name, "").strip())

    def _raw(self, name: builtins.str, default: Any) -> builtins.str | Any:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if default is _NOT_SET:
            raise ImproperlyConfigured(f"Set the {name} environment variable (see .env.example).")
        return default

    def str(self, name: builtins.str, default: Any = _NOT_SET) -> Any:
        return self._raw(name, default)

    def bool(self, name: builtins.str, default: Any = _NOT_SET) -> Any:
        value = self._raw(name, default)
        if not isinstance(value, builtins.str):
            return value
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")

    def int(
        self, name: builtins.str, default: Any = _NOT_SET, *, minimum: builtins.int | None = None
    ) -> Any:
        value = self._raw(name, default)
        if not isinstance(value, builtins.str):
            return value
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
        return number

    def float(self, name: builtins.str, default: Any = _NOT_SET) -> Any:
        value = self._raw(name, default)
        if not isinstance(value, builtins.str):
            return value
        try:
            return float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None

    def list(self, name: builtins.str, default: Any = _NOT_SET) -> Any:
        value = self._raw(name, default)
        if not isinstance(value, builtins.str):
            return value
        return [item.strip() for item in value.split(",") if item.strip()]

    def url(
        self,
        name: builtins.str,
        default: Any = _NOT_SET,
        *,
        schemes: builtins.tuple[builtins.str, ...],
    ) -> Any:
        value = self._raw(name, default)
        if not isinstance(value, builtins.str):
            return value
        parts = urlsplit(value)
        needs_host = parts.scheme in ("http", "https")
        if parts.scheme not in schemes or (needs_host and not parts.netloc):
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise ImproperlyConfigured(
                f"{name} must be a URL starting with {allowed}; got {value!r}."
            )
        return value

    def database(self, name: builtins.str, default: Any = _NOT_SET) -> Any:
        """A Django DATABASES entry from a postgres:// URL."""
        value = self.url(name, default, schemes=("postgres", "postgresql", "pgsql"))
        if not isinstance(value, builtins.str):
            return value
        parts = urlsplit(value)
        if not parts.path.strip("/"):
            raise ImproperlyConfigured(
                f"{name} must name a database, as in postgres://host/eureka."
            )
        config: dict[builtins.str, Any] = environ.Env.db_url_config(value)
        config["ENGINE"] = "django.db.backends.postgresql"
        return config

    def email(self, name: builtins.str, default: Any = _NOT_SET) -> Any:
        """Django email settings from an smtp://, smtp+tls://, smtp+ssl:// or consolemail:// URL."""
        value = self.url(
            name, default, schemes=("smtp", "smtps", "smtp+tls", "smtp+ssl", "consolemail")
        )
        if not isinstance(value, builtins.str):
            return value
        config: dict[builtins.str, Any] = environ.Env.email_url_config(value)
        return config


env = Env()
