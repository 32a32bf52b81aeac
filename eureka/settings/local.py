"""The embedded default: one machine, `make run`."""

from eureka.settings.base import *  # noqa: F403

DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

# Static files (ours and the npm-installed ones) are served straight from their folders through
# the finders; STATIC_ROOT is only for collectstatic in production.
STATIC_ROOT = None  # type: ignore[assignment]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
