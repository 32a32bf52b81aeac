"""The test suite: real PostgreSQL with pgvector (embedded, or DATABASE_URL), eager Celery,
in-memory channel layer. Tests that need Redis ask for it explicitly (marker `redis`)."""

from eureka.settings.base import *  # noqa: F403
from eureka.settings.base import DATABASES, env

# The suite opens and closes test databases; Django's pool is proven by bench/load.py and by
# tests/eureka/test_settings_pool.py instead.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)

DEBUG = False
SECRET_KEY = "test-only-not-a-secret"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Tests get Redis only where they ask for it; everything else runs in-process.
TEST_REDIS_URL = env.url("REDIS_URL", "redis://127.0.0.1:6379/15", schemes=("redis", "rediss"))
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = True
# Nothing listens here: tests that need a model worker start a real one.
EUREKA_MODEL_BASE_URL = "http://127.0.0.1:9/v1"
EUREKA_MODEL_TIMEOUT = 5.0
# The fixture models have a 256-token context: keep TA prompts and replies small.
EUREKA_TA_PROMPT_CHARS = 300
EUREKA_TA_MAX_TOKENS = 16

# Static files come from their folders through the finders; STATIC_ROOT is for collectstatic.
STATIC_ROOT = None  # type: ignore[assignment]
WHITENOISE_USE_FINDERS = True
