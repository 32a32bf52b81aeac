"""The database connection pool: for the web processes (`make run`'s launcher and docker
compose's web service), off for everything else (Celery workers fork), off when connections are
kept per thread, and sized by the environment."""

import json
import subprocess
import sys

import yaml
from django.conf import settings

from tests.eureka.test_deploy import PRODUCTION_ENV


def _pool(subprocess_env, module: str, **env: str) -> object:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {}).get('pool')))"
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


def test_no_pool_unless_asked_for(subprocess_env):
    assert _pool(subprocess_env, "eureka.settings.local") is None
    assert _pool(subprocess_env, "eureka.settings.production", **PRODUCTION_ENV) is None


def test_the_pool_is_sized_by_the_environment_and_off_with_kept_connections(subprocess_env):
    local = "eureka.settings.local"
    sized = _pool(subprocess_env, local, DATABASE_POOL_SIZE="5", DATABASE_POOL_TIMEOUT="2.5")
    assert sized == {"min_size": 1, "max_size": 5, "timeout": 2.5}
    production = _pool(
        subprocess_env, "eureka.settings.production", DATABASE_POOL_SIZE="20", **PRODUCTION_ENV
    )
    assert isinstance(production, dict) and production["max_size"] == 20
    kept = _pool(subprocess_env, local, DATABASE_POOL_SIZE="5", DATABASE_CONN_MAX_AGE="60")
    assert kept is None


def test_the_web_processes_ask_for_a_pool_and_the_workers_do_not():
    compose = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["web"]["environment"]["DATABASE_POOL_SIZE"] == "20"
    assert services["web"]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert "DATABASE_POOL_SIZE" not in services["worker"]["environment"]
    launcher = (settings.BASE_DIR / "eureka" / "launcher.py").read_text()
    assert 'os.environ.setdefault("DATABASE_POOL_SIZE", "20")' in launcher
