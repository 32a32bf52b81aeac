"""The embedded default: one machine, `make run`."""

from eureka.settings.base import *  # noqa: F403

DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

# Static files (ours and the npm-installed ones) are served straight from their folders through
# the finders; STATIC_ROOT is only for collectstatic in production.
STATIC_ROOT = None  # type: ignore[assignment]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Connections are kept for a minute instead of opened for every request and every TA turn: a new
# PostgreSQL connection costs milliseconds a student waits for (health checks catch a server
# that restarted meanwhile).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 60, minimum=0)  # noqa: F405
