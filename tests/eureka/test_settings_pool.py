"""The database connection pool: on by default in the embedded and production settings, off
when connections are kept per thread, and sized by the environment."""

import json
import subprocess
import sys

import pytest
from django.conf import settings

from tests.eureka.test_deploy import PRODUCTION_ENV


def _pool(subprocess_env, module: str, **env: str) -> object:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {}).get('pool'), "
        "default=lambda o: getattr(o, '__qualname__', str(o))))"
    )
    run_env = {**subprocess_env, "DJANGO_SETTINGS_MODULE": module, **env}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=run_env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["eureka.settings.local", "eureka.settings.production"])
def test_a_pool_by_default(subprocess_env, module):
    env = PRODUCTION_ENV if module.endswith("production") else {}
    pool = _pool(subprocess_env, module, **env)
    assert isinstance(pool, dict)
    assert pool["max_size"] == 20 and pool["timeout"] == 30.0
    assert "check" not in pool  # Django adds it itself, from CONN_HEALTH_CHECKS


def test_the_pool_is_sized_by_the_environment_and_off_with_kept_connections(subprocess_env):
    local = "eureka.settings.local"
    sized = _pool(subprocess_env, local, DATABASE_POOL_SIZE="5", DATABASE_POOL_TIMEOUT="2.5")
    assert isinstance(sized, dict) and (sized["max_size"], sized["timeout"]) == (5, 2.5)
    assert _pool(subprocess_env, local, DATABASE_POOL_SIZE="0") is None
    assert _pool(subprocess_env, local, DATABASE_CONN_MAX_AGE="60") is None
