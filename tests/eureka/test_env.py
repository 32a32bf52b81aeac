import pytest
from django.core.exceptions import ImproperlyConfigured

from eureka.env import Env


def test_missing_required_variable_names_it():
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        Env({}).str("DJANGO_SECRET_KEY")


def test_unset_variable_with_default_selects_default():
    assert Env({}).str("EUREKA_X", "fallback") == "fallback"
    assert Env({"EUREKA_X": "   "}).str("EUREKA_X", "fallback") == "fallback"


@pytest.mark.parametrize(
    ("getter", "value", "message"),
    [
        ("bool", "perhaps", "EUREKA_FLAG must be true or false"),
        ("int", "eight", "EUREKA_FLAG must be a whole number"),
        ("float", "fast", "EUREKA_FLAG must be a number"),
    ],
)
def test_malformed_scalar_names_variable_and_value(getter, value, message):
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        getattr(Env({"EUREKA_FLAG": value}), getter)("EUREKA_FLAG")
    assert repr(value) in str(caught.value)


def test_int_below_minimum_is_refused():
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        Env({"N": "0"}).int("N", minimum=1)


def test_typed_values_parse():
    env = Env({"B": "yes", "I": "42", "L": "a.example, b.example ,", "F": "2.5"})
    assert env.bool("B") is True
    assert env.int("I") == 42
    assert env.list("L") == ["a.example", "b.example"]
    assert env.float("F") == 2.5


@pytest.mark.parametrize("value", ["not a url", "mysql://db/eureka", "postgres://db/"])
def test_malformed_database_url_names_variable(value):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        Env({"DATABASE_URL": value}).database("DATABASE_URL")


def test_database_url_gives_postgres_settings():
    config = Env({"DATABASE_URL": "postgres://eureka:pw@db:5433/eureka"}).database("DATABASE_URL")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db",
        5433,
        "eureka",
        "eureka",
    )


def test_http_url_needs_a_host():
    with pytest.raises(ImproperlyConfigured, match="EUREKA_MODEL_BASE_URL"):
        Env({"EUREKA_MODEL_BASE_URL": "http:///v1"}).url("EUREKA_MODEL_BASE_URL", schemes=("http",))
