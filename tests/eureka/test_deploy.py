"""Docker does not run on the development machines, so the production topology is checked by
reading it: every service's command, settings module, environment and files must exist."""

import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
DOCUMENTED = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, re.MULTILINE))


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def test_compose_has_the_production_topology():
    assert {"db", "redis", "web", "worker", "beat", "modelworker", "proxy", "migrate"} <= set(
        SERVICES
    )
    assert SERVICES["db"]["image"].startswith("pgvector/pgvector:")
    assert SERVICES["redis"]["image"].startswith("redis:")


def test_every_long_running_service_has_a_health_check_and_data_has_volumes():
    for name in ("db", "redis", "web", "worker", "modelworker"):
        assert "healthcheck" in SERVICES[name], name
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["db"]["volumes"]
    assert set(COMPOSE["volumes"]) >= {"pgdata", "redisdata"}


def test_web_scales_to_several_replicas_behind_the_proxy():
    web = SERVICES["web"]
    assert "ports" not in web, "replicas cannot share a host port; the proxy publishes it"
    assert str(web["deploy"]["replicas"]).endswith("2}") or int(web["deploy"]["replicas"]) >= 2
    caddyfile = ROOT / "deploy" / "Caddyfile"
    mount = next(v for v in SERVICES["proxy"]["volumes"] if "Caddyfile" in v)
    assert (ROOT / mount.split(":")[0]).resolve() == caddyfile
    assert "dynamic a web 8000" in caddyfile.read_text()


def test_model_worker_reserves_a_gpu():
    devices = SERVICES["modelworker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_each_image_has_its_dockerfile():
    for name, service in SERVICES.items():
        if "build" in service:
            build = service["build"]
            context = ROOT / build["context"]
            assert context.is_dir(), name
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        else:
            assert "image" in service, name


def test_settings_module_of_every_app_service_exists():
    for name, service in SERVICES.items():
        settings_module = service.get("environment", {}).get("DJANGO_SETTINGS_MODULE")
        if settings_module:
            assert _module_exists(settings_module), (name, settings_module)


def _command(service):
    command = service.get("command")
    return command.split() if isinstance(command, str) else command


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_command_refers_to_code_that_exists(name):
    command = _command(SERVICES[name])
    if command is None or "build" not in SERVICES[name]:
        return  # official images run their own entry points
    program = command[0]
    if program == "uvicorn":
        module, attribute = command[1].split(":")
        assert hasattr(importlib.import_module(module), attribute)
    elif program == "celery":
        app_module = command[command.index("-A") + 1]
        assert _module_exists(f"{app_module}.celery")
        assert command[3] in {"worker", "beat"}
    elif program == "python" and command[1] == "-m":
        assert _module_exists(command[2]), f"{name}: no module {command[2]}"
        assert (ROOT / command[2].split(".")[0]).is_dir()
    elif program == "python":
        assert (ROOT / command[1]).is_file()
        if command[1] == "manage.py":
            from django.core.management import get_commands

            assert command[2] in get_commands()
    else:
        pytest.fail(f"{name}: unknown program {program}")


def test_every_variable_compose_uses_is_documented():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    assert used <= DOCUMENTED, used - DOCUMENTED


def test_every_variable_the_code_reads_is_documented():
    pattern = re.compile(
        r"""env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"|environ(?:\.get)?\(?\[?\s*"([A-Z][A-Z0-9_]+)"""
    )
    read = set()
    for folder in ("eureka", "accounts", "courses", "tutor", "modelworker"):
        for path in (ROOT / folder).rglob("*.py"):
            for match in pattern.finditer(path.read_text()):
                read.add(match.group(1) or match.group(2))
    read -= {"DJANGO_SETTINGS_MODULE"} - DOCUMENTED
    assert read, "the pattern found nothing: it is broken"
    assert read <= DOCUMENTED, read - DOCUMENTED


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "eureka.settings.production",
    "DJANGO_SECRET_KEY": "p9Xq2-" * 10,
    "DJANGO_ALLOWED_HOSTS": "eureka.example.org",
    "DATABASE_URL": "postgres://eureka:pw@db:5432/eureka",
    "REDIS_URL": "redis://redis:6379/0",
    "EUREKA_MODEL_BASE_URL": "http://modelworker:8001/v1",
    "EMAIL_URL": "smtp+tls://user:pw@smtp.example.org:587",
}


def _manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy(subprocess_env):
    result = _manage(
        {**subprocess_env, **PRODUCTION_ENV}, "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "variable",
    ["DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EMAIL_URL", "DJANGO_ALLOWED_HOSTS"],
)
def test_production_start_stops_naming_a_missing_variable(subprocess_env, variable):
    env = {**subprocess_env, **PRODUCTION_ENV}
    del env[variable]
    result = _manage(env, "check")
    assert result.returncode != 0
    assert variable in result.stderr
    assert result.stderr.count("\n") < 40 or f"Set the {variable}" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://db/eureka"),
        ("REDIS_URL", "localhost:6379"),
        ("EUREKA_MODEL_BASE_URL", "modelworker:8001"),
        ("DJANGO_SECRET_KEY", "short"),
        ("DATABASE_CONN_MAX_AGE", "forever"),
    ],
)
def test_production_start_stops_naming_a_malformed_variable(subprocess_env, variable, value):
    result = _manage({**subprocess_env, **PRODUCTION_ENV, variable: value}, "check")
    assert result.returncode != 0
    assert variable in result.stderr


def test_the_model_worker_command_in_compose_is_one_the_worker_accepts():
    command = _command(SERVICES["modelworker"])
    help_text = subprocess.run(
        [sys.executable, "-m", "modelworker", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    for argument in command[4:]:
        assert argument.split("=")[0] in help_text, argument
