"""The authoring services keep the course consistent even when called without the forms."""

import pytest

from courses import selectors, services
from courses.models import Chapter, Exercise, Step, StepRevision
from courses.spec import ConceptSpec, ExerciseSpec


def positions(ramp):
    return {
        chapter.slug: list(chapter.steps.order_by("position").values_list("position", flat=True))
        for chapter in Chapter.objects.filter(course=ramp)
    }


def test_moves_keep_positions_contiguous_and_record_no_revision(ramp):
    revisions = StepRevision.objects.count()
    step = Step.objects.get(slug="probabilities")
    assert services.step_move(step=step, offset=1)  # into the next chapter, first
    assert services.step_move(step=Step.objects.get(slug="counting-characters"), offset=1)
    assert positions(ramp) == {"counting": [], "bigrams": [0, 1, 2]}
    spec = selectors.course_spec(ramp)
    assert [s.slug for s in spec.chapters[1].steps] == [
        "counting-characters",
        "probabilities",
        "bigram-sampling",
    ]
    assert not services.step_move(step=Step.objects.get(slug="bigram-sampling"), offset=1)
    assert StepRevision.objects.count() == revisions


def test_a_cycle_is_refused_by_the_service_itself(ramp):
    concept = ramp.concepts.get(slug="python-lists")
    spec = ConceptSpec(slug="python-lists", name="Lists", requires=["bigram-model"])
    concept.prior_knowledge = False
    concept.save()
    with pytest.raises(services.AuthoringRefused, match="cycle: python-lists → bigram-model"):
        services.concept_save(course=ramp, concept=concept, spec=spec)
    assert selectors.course_spec(ramp).concept("python-lists").requires == []


def test_changing_an_exercises_kind_clears_the_old_kinds_answer(ramp):
    exercise = Exercise.objects.get(slug="prob-of-a")
    spec = ExerciseSpec(
        slug="ignored", kind="short_answer", prompt="Name it.", accepted=["half", " "]
    )
    services.exercise_save(
        step=exercise.step, exercise=exercise, spec=spec, is_probe=False, author=None
    )
    exercise.refresh_from_db()
    assert (exercise.slug, exercise.answer, exercise.tolerance) == ("prob-of-a", None, 0.0)
    assert exercise.accepted == ["half"]


def test_new_steps_get_unique_file_format_slugs(ramp):
    chapter = Chapter.objects.get(slug="counting")
    first = services.step_create(chapter=chapter, title="Counting Characters!", author=None)
    second = services.step_create(chapter=chapter, title="Ünïcode_and spaces", author=None)
    assert first.slug == "counting-characters-2"
    assert second.slug == "unicode-and-spaces"
    assert StepRevision.objects.get(step=second).note == "created in the browser"


def test_an_edited_course_still_exports_and_reimports_identically(ramp):
    chapter = Chapter.objects.get(slug="bigrams")
    step = services.step_create(chapter=chapter, title="Trigrams", author=None)
    services.step_update(
        step=step,
        title="Trigrams",
        body="Two characters back.\r\n",
        teaches=[],
        requires=["bigram-model"],
        author=None,
    )
    before = selectors.course_spec(ramp)
    files = services.course_export(ramp)
    result = services.course_import(files=files)
    assert result.changed_steps == []
    assert selectors.course_spec(result.course) == before
    assert before.step("trigrams").body == "Two characters back.\n"
