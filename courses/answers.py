"""Checking a student's answer against an exercise, with feedback a student can act on."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from courses.spec import ExerciseSpec


class AnswerInvalid(ValueError):
    """The answer cannot be checked at all (not a number, no option chosen): say how to fix it.
    It is not counted as an attempt."""


@dataclass(frozen=True)
class Verdict:
    correct: bool
    feedback: str


def check(exercise: ExerciseSpec, answer: str) -> Verdict:
    if exercise.kind == "multiple_choice":
        return _check_choice(exercise, answer)
    if exercise.kind == "numeric":
        return _check_numeric(exercise, answer)
    if exercise.kind == "short_answer":
        return _check_short(exercise, answer)
    raise AnswerInvalid(f"This exercise has an unknown kind ({exercise.kind}).")


def _check_choice(exercise: ExerciseSpec, answer: str) -> Verdict:
    try:
        index = int(answer.strip())
    except ValueError:
        raise AnswerInvalid("Choose one of the options.") from None
    if not 0 <= index < len(exercise.options):
        raise AnswerInvalid("Choose one of the options.")
    option = exercise.options[index]
    if option.correct:
        return Verdict(True, "Correct.")
    return Verdict(False, option.misconception or "Not quite.")


_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-", "\uff0d": "-", "\u00d7": "x"})
_SPACES = re.compile(r"[\s\u00a0\u2009\u202f_']+")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_UNIT = re.compile(r"(?<=[\d\s.])(?P<unit>[^\d\s.,+\-^][^\s]*)$")
_EXPONENT = re.compile(r"^[eE][+-]?\d+$")
_TIMES_TEN = re.compile(r"^(?P<m>[+-]?(\d+(\.\d*)?|\.\d+))[x*]10\^(?P<e>[+-]?\d+)$")


def parse_number(text: str, unit: str = "") -> float:
    """A number as students type it: signs (including the Unicode minus), scientific notation
    (1e-3, or 1.5x10^3 with the multiplication sign), a decimal comma (0,5), spaces as thousands
    separators, and the exercise's unit after it if it has one."""
    value = unicodedata.normalize("NFKC", text).translate(_MINUS).strip()
    if unit and value.endswith(unit):
        value = value[: -len(unit)].rstrip()
    value = _SPACES.sub("", value)
    if re.fullmatch(r"[+-]?\d+,\d+", value):
        value = value.replace(",", ".")
    if _NUMBER.match(value):
        number = float(value)
    elif match := _TIMES_TEN.match(value):
        number = float(match["m"]) * 10 ** int(match["e"])
    else:
        example = f" (for example 0.5, -2 or 1e-3{f' {unit}' if unit else ''})"
        raise AnswerInvalid(f"Enter a number{example}.")
    if not math.isfinite(number):
        raise AnswerInvalid("Enter a finite number.")
    return number


def _check_numeric(exercise: ExerciseSpec, answer: str) -> Verdict:
    typed = _UNIT.search(unicodedata.normalize("NFKC", answer).strip())
    typed_unit = typed["unit"] if typed and not _EXPONENT.match(typed["unit"]) else ""
    if exercise.unit and typed_unit and typed_unit != exercise.unit:
        return Verdict(False, f"Check the unit: the answer is in {exercise.unit}.")
    value = parse_number(answer, exercise.unit)
    if exercise.answer is None:  # validation refuses this; never reached for a published course
        raise AnswerInvalid("This exercise has no answer to compare with yet.")
    target = float(exercise.answer)
    # A little slack for decimal input that binary floats cannot hold exactly (0.1 + 0.2).
    slack = exercise.tolerance + 1e-9 * max(1.0, abs(target))
    if abs(value - target) <= slack:
        return Verdict(True, "Correct.")
    if abs(-value - target) <= slack and target != 0:
        return Verdict(False, "Check the sign.")
    return Verdict(False, "Not quite.")


def normalise_text(text: str) -> str:
    """Case, accents, repeated whitespace and surrounding punctuation do not count."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = " ".join(text.casefold().split())
    return text.strip(" .,;:!?\"'`()[]{}\u00ab\u00bb\u201c\u201d\u2018\u2019")


def _check_short(exercise: ExerciseSpec, answer: str) -> Verdict:
    given = normalise_text(answer)
    if not given:
        raise AnswerInvalid("Write an answer first.")
    if any(given == normalise_text(accepted) for accepted in exercise.accepted):
        return Verdict(True, "Correct.")
    return Verdict(False, "Not one of the answers we expected.")
