"""Settings shared by every mode. Each integration is switched on by its environment variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
from csp.constants import NONE, SELF

from eureka import embedded
from eureka.env import env

# Lets runtime code use the generic forms of Django classes the type checker knows (ModelAdmin[T]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = embedded.default_data_dir()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", "embedded-mode-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "channels",
    "django_htmx",
    "template_partials",
    "allauth",
    "allauth.account",
    "axes",
    "accounts",
    "courses",
    "tutor",
    "eureka",  # project-wide management commands (backup_db, restore_db)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "eureka.csp.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: turns a log-in refused for too many failures into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "eureka.urls"
ASGI_APPLICATION = "eureka.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "eureka.context_processors.navigation",
            ],
        },
    },
]

# Database: DATABASE_URL selects an external PostgreSQL (it must have pgvector); unset, the
# embedded server in DATA_DIR/pg is used (started on first connection).
if env.is_set("DATABASE_URL"):
    DATABASES: dict[str, dict[str, Any]] = {"default": env.database("DATABASE_URL")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "eureka.db.embedded",
            "NAME": embedded.DATABASE_NAME,
            "USER": "postgres",
            "EMBEDDED_DATA_DIR": str(DATA_DIR),
        }
    }
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


def database_pool(settings_dict: dict[str, Any]) -> None:
    """Give the database settings a connection pool (psycopg's) of DATABASE_POOL_SIZE
    connections, unless connections are kept per thread (DATABASE_CONN_MAX_AGE > 0).

    For the web processes, which `make run` and docker compose's web service configure: under
    ASGI every request runs its database work on a thread of its own, and without a pool 200
    students at once open 200 connections, beyond PostgreSQL's limit ("too many clients
    already"); with it, a request waits up to DATABASE_POOL_TIMEOUT seconds for one of the
    process's connections. Off (0) by default: Celery workers fork, and a pool's connections and
    thread do not survive a fork."""
    size = env.int("DATABASE_POOL_SIZE", 0, minimum=0)
    if size and not settings_dict.get("CONN_MAX_AGE"):
        # With CONN_HEALTH_CHECKS Django has the pool check each connection before handing it
        # out, so a connection the server dropped (a restart) is replaced.
        settings_dict.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": size,
            "timeout": env.float("DATABASE_POOL_TIMEOUT", 30.0),
        }


database_pool(DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses every log-in (allauth's and the admin's) while the account is locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "landing"
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("EUREKA_EMAIL_VERIFICATION", "optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http"

# Log-in throttling, two layers. Per account and address (django-axes, in the database so every
# web replica sees it): after EUREKA_LOGIN_FAILURE_LIMIT wrong passwords for one account from one
# address, log-ins to that account from that address are refused for EUREKA_LOGIN_COOLOFF_MINUTES
# (even with the right password), with a page that says so; other accounts, and the same account
# from elsewhere, are not affected, so nobody can lock a student out from afar. A success resets
# the count. Per address (allauth's limiter, in the cache): at most 20 failed log-ins a minute,
# which slows guessing across many accounts yet leaves room for a class behind one address.
# The address is REMOTE_ADDR; in production uvicorn sets it from the proxy's X-Forwarded-For.
AXES_FAILURE_LIMIT = env.int("EUREKA_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("EUREKA_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.throttling.attempted_account"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.throttling.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # failures are what the throttle needs; sessions log the rest
ACCOUNT_RATE_LIMITS = {"login_failed": "20/m/ip"}

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
NODE_MODULES = BASE_DIR / "node_modules"
# Third-party front-end files come from the npm registry (package.json) at set-up time.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/htmx-ext-ws", NODE_MODULES / "htmx-ext-ws" / "dist"),
    ("vendor/pico", NODE_MODULES / "@picocss" / "pico" / "css"),
    ("vendor/katex", NODE_MODULES / "katex" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Content Security Policy (django-csp): scripts and styles only from our own static files, never
# inline, so injected markup cannot run. Our pages have no inline script, style element or style
# attribute: Pygments highlights with classes (static/css/pygments.css), the Markdown cleaner
# drops style attributes, KaTeX sets its styles through the DOM (which CSP allows), and htmx's
# own indicator <style> is switched off in base.html (its rules are in eureka.css). Images come
# from our host or data: URIs (Pico's icons): an image linked in Markdown from another site is
# not loaded, so no page makes a student's or a TA's browser call a third party. WebSockets go
# to the page's own host: eureka.csp.CSPMiddleware adds ws(s)://<host> to connect-src.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# The CSRF token reaches htmx through the page (hx-headers on <body>), never from the cookie.
CSRF_COOKIE_HTTPONLY = True

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Eureka <noreply@eureka.localhost>")

# Redis: channel layer, Celery broker and cache when REDIS_URL is set; the embedded mode uses the
# in-memory channel layer and runs Celery tasks eagerly.
REDIS_URL = env.url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
# The cache only saves work: while Redis is unreachable it misses instead of failing the page.
REDIS_CACHE = {
    "BACKEND": "eureka.cache.FailSoftRedisCache",
    "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {"default": {**REDIS_CACHE, "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.url(
    "CELERY_BROKER_URL", REDIS_URL or "memory://", schemes=("redis", "rediss", "amqp", "memory")
)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", REDIS_URL or None)
CELERY_TASK_ALWAYS_EAGER = not env.is_set("CELERY_BROKER_URL") and not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged after it ran, so a worker that dies mid-task hands it to another;
# tasks are written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# On the Redis broker, a task taken by a worker that died is handed out again once it has gone
# unacknowledged this long; keep it above the longest task (CELERY_TASK_TIME_LIMIT) and retry
# countdown, or a task still running would be started a second time.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 600, minimum=1)
}
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 150, minimum=1)
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {"task": "accounts.clear_expired_sessions", "schedule": 6 * 3600},
    "refit-knowledge-tracing": {"task": "tutor.refit_all_courses", "schedule": 24 * 3600},
    "index-course-chunks": {"task": "tutor.index_pending_course_versions", "schedule": 600},
}

# The model worker (or any OpenAI-compatible server). Unset: the local worker on 127.0.0.1:8001.
EUREKA_MODEL_BASE_URL = env.url(
    "EUREKA_MODEL_BASE_URL", "http://127.0.0.1:8001/v1", schemes=("http", "https")
)
EUREKA_MODEL_API_KEY = env.str("EUREKA_MODEL_API_KEY", "eureka-local")
EUREKA_MODEL_TIMEOUT = env.float("EUREKA_MODEL_TIMEOUT", 30.0)
# Model names at that server: the chat model (blank: the first it lists) and the embedding model.
EUREKA_CHAT_MODEL = env.str("EUREKA_CHAT_MODEL", "")
EUREKA_EMBEDDING_MODEL = env.str("EUREKA_EMBEDDING_MODEL", "all-MiniLM-L6-v2")

# The AI TA: prompt size (characters; the course model's context is the limit), reply length,
# how often streamed tokens are flushed to the browser, and per-student limits.
EUREKA_TA_PROMPT_CHARS = env.int("EUREKA_TA_PROMPT_CHARS", 6000, minimum=200)
EUREKA_TA_MAX_TOKENS = env.int("EUREKA_TA_MAX_TOKENS", 400, minimum=1)
EUREKA_TA_FLUSH_SECONDS = env.float("EUREKA_TA_FLUSH_SECONDS", 0.05)
EUREKA_TA_MESSAGES_PER_MINUTE = env.int("EUREKA_TA_MESSAGES_PER_MINUTE", 8, minimum=1)
EUREKA_TA_TOKENS_PER_DAY = env.int("EUREKA_TA_TOKENS_PER_DAY", 40000, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("EUREKA_LOG_LEVEL", "INFO")},
    # axes logs every log-in at INFO; its warnings (failures, lockouts) are what an operator needs.
    "loggers": {"pgserver": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
