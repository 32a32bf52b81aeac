"""Each ramp validation error, named with its step and concept (and file and line from files)."""

import copy

import pytest

from courses import fileformat
from courses.spec import OptionSpec
from courses.validation import validate


@pytest.fixture
def spec(sample_files):
    course, problems = fileformat.read_texts(sample_files)
    assert not problems
    assert validate(course) == []
    return course


def messages(course):
    return [str(p) for p in validate(course)]


def test_prerequisite_taught_only_later_is_named_with_step_and_concept(spec):
    first = spec.steps()[0]
    first.requires.append("normalisation")
    (problem,) = [m for m in messages(spec) if "requires concept 'normalisation'" in m]
    assert "step 'counting-characters'" in problem
    assert "taught later, in step 'probabilities'" in problem
    assert problem.startswith("steps/counting-characters.md:1:")


def test_prior_knowledge_satisfies_a_prerequisite(spec):
    spec.steps()[0].requires.append("python-lists")
    assert messages(spec) == []


def test_concept_requirement_of_a_taught_concept_must_come_first(spec):
    spec.concept("character-counts").requires.append("bigram-model")
    found = messages(spec)
    assert any(
        "teaches concept 'character-counts', which requires concept 'bigram-model'" in m
        for m in found
    )


def test_cycles_in_the_concept_graph_are_refused(spec):
    spec.concept("character-counts").requires.append("bigram-model")
    found = messages(spec)
    assert any("cycle" in m and "character-counts" in m and "bigram-model" in m for m in found)


def test_unknown_concepts_are_named(spec):
    spec.steps()[1].teaches.append("telepathy")
    assert any(
        "step 'probabilities' teaches unknown concept 'telepathy'" in m for m in messages(spec)
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda e: e.options.__setitem__(slice(None), [OptionSpec("only", correct=True)]),
            "at least two options",
        ),
        (
            lambda e: [o.__setattr__("correct", False) for o in e.options],
            "no option is marked correct",
        ),
        (lambda e: setattr(e.options[1], "misconception", ""), "does not name its misconception"),
        (lambda e: e.hints.clear(), "no hint ladder"),
        (lambda e: setattr(e, "solution", "  "), "no worked solution"),
    ],
)
def test_every_exercise_needs_answer_hints_and_solution(spec, change, expected):
    exercise = spec.steps()[0].exercises[1]
    change(exercise)
    found = messages(spec)
    assert any(
        expected in m and "exercise 'most-common' of step 'counting-characters'" in m for m in found
    ), found


def test_numeric_and_short_answer_need_a_correct_answer(spec):
    spec.steps()[0].exercises[0].answer = None
    spec.steps()[1].exercises[1].accepted = ["  "]
    found = messages(spec)
    assert any("count-l" in m and "needs an answer" in m for m in found)
    assert any("name-the-step" in m and "at least one accepted answer" in m for m in found)


def test_every_concept_taught_needs_an_exercise_and_a_probe(spec):
    step = spec.steps()[2]
    step.probes.clear()
    found = messages(spec)
    assert any(
        "step 'bigram-sampling' teaches concept 'bigram-model', but no probe diagnoses it" in m
        for m in found
    )
    step.exercises.clear()
    assert any("no exercise practises it" in m for m in messages(spec))


def test_concept_never_taught_and_duplicate_slugs_are_reported(spec):
    spec.concepts.append(copy.deepcopy(spec.concept("normalisation")))
    orphan = copy.deepcopy(spec.concept("bigram-model"))
    orphan.slug = "trigram-model"
    spec.concepts.append(orphan)
    spec.steps()[0].exercises[1].slug = "count-l"
    found = messages(spec)
    assert any("concept 'normalisation' is defined 2 times" in m for m in found)
    assert any("concept 'trigram-model' is never taught by any step" in m for m in found)
    assert any("2 exercises or probes with slug 'count-l'" in m for m in found)


def test_empty_course_is_refused(spec):
    spec.chapters.clear()
    assert any("no step" in m for m in messages(spec))
