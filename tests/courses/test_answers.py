import pytest

from courses.answers import AnswerInvalid, check, normalise_text, parse_number
from courses.spec import ExerciseSpec, OptionSpec


def numeric(answer, tolerance=0.0, unit=""):
    return ExerciseSpec(
        slug="n", kind="numeric", prompt="?", answer=answer, tolerance=tolerance, unit=unit
    )


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("3", 3.0),
        ("+3", 3.0),
        ("-2.5", -2.5),
        ("\u22122.5", -2.5),  # the Unicode minus sign
        (".5", 0.5),
        ("5.", 5.0),
        ("1e-3", 0.001),
        ("1E+3", 1000.0),
        ("1.5\u00d710^3", 1500.0),
        ("1.5x10^-3", 0.0015),
        ("0,5", 0.5),
        ("1 000 000", 1e6),
        ("1\u202f000", 1000.0),
        ("  42  ", 42.0),
        ("\uff13", 3.0),  # a full-width digit
    ],
)
def test_numbers_are_read_as_students_type_them(typed, value):
    assert parse_number(typed) == pytest.approx(value)


@pytest.mark.parametrize("typed", ["", "three", "1..2", "--1", "1e", "nan", "inf", "1,2,3", "0x10"])
def test_unreadable_numbers_are_invalid_not_wrong(typed):
    with pytest.raises(AnswerInvalid):
        parse_number(typed)


def test_tolerance_is_inclusive_and_float_noise_is_forgiven():
    exercise = numeric(0.5, tolerance=0.01)
    assert check(exercise, "0.51").correct
    assert check(exercise, "0.49").correct
    assert not check(exercise, "0.5101").correct
    assert check(numeric(0.3), "0.30000000000000004").correct
    assert not check(numeric(0.3), "0.31").correct


def test_sign_error_gets_its_own_feedback():
    verdict = check(numeric(-4), "4")
    assert not verdict.correct and verdict.feedback == "Check the sign."
    assert check(numeric(0), "-0").correct


def test_units_are_optional_but_must_be_right_when_given():
    exercise = numeric(3, unit="s")
    assert check(exercise, "3").correct
    assert check(exercise, "3 s").correct
    assert check(exercise, "3s").correct
    assert check(exercise, "3e0 s").correct
    wrong = check(exercise, "3 ms")
    assert not wrong.correct and "unit" in wrong.feedback


def short(*accepted):
    return ExerciseSpec(slug="s", kind="short_answer", prompt="?", accepted=list(accepted))


@pytest.mark.parametrize(
    "typed",
    [
        "Normalisation",
        "  normalisation. ",
        "NORMALISATION!",
        "normalisation\n",
        "\u201cnormalisation\u201d",
    ],
)
def test_short_answers_ignore_case_spacing_and_punctuation(typed):
    assert check(short("normalisation"), typed).correct


def test_short_answers_compare_unicode_forms_and_accents():
    assert check(short("naïve Bayes"), "nai\u0308ve   bayes").correct  # combining diaeresis
    assert check(short("naïve Bayes"), "naive bayes").correct
    assert check(short("日本語"), " 日本語 ").correct
    assert not check(short("bigram"), "trigram").correct
    assert normalise_text("  A\tB  ") == "a b"


def test_empty_short_answer_is_invalid():
    with pytest.raises(AnswerInvalid):
        check(short("x"), "   ")


def test_multiple_choice_returns_the_misconception_of_the_chosen_option():
    exercise = ExerciseSpec(
        slug="m",
        kind="multiple_choice",
        prompt="?",
        options=[
            OptionSpec("a", correct=True),
            OptionSpec("b", misconception="Mixing up b and a."),
        ],
    )
    assert check(exercise, "0").correct
    verdict = check(exercise, "1")
    assert (verdict.correct, verdict.feedback) == (False, "Mixing up b and a.")
    for bad in ["", "2", "-1", "b"]:
        with pytest.raises(AnswerInvalid):
            check(exercise, bad)
