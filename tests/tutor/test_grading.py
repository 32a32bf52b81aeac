"""Short answers outside the accepted ones are graded by the model against the rubric; an
unparseable or unreachable grade goes to a human TA, never a guess."""

import pytest

from courses.selectors import latest_version, version_spec
from tests.stand_in_model import stand_in_model
from tutor import services
from tutor.models import Attempt, ConceptMastery, ExerciseProgress
from tutor.tasks import grade_short_answer


@pytest.fixture
def submit(sample_course, sample_student, django_capture_on_commit_callbacks):
    version = latest_version(sample_course)
    spec = version_spec(version)
    step = spec.step("probabilities")
    exercise = next(e for e in step.exercises if e.slug == "name-the-step")

    def run(answer):
        with django_capture_on_commit_callbacks(execute=True):
            services.attempt_submit(
                user=sample_student, version=version, step=step, exercise=exercise, answer=answer
            )
        return Attempt.objects.get(answer=answer)

    return run


def test_an_accepted_answer_needs_no_model(submit):
    attempt = submit("Normalization")
    assert attempt.correct and attempt.grading == Attempt.Grading.EXACT


def test_the_models_grade_is_applied_with_its_feedback(submit, settings, sample_student):
    with stand_in_model(
        ['{"correct": true, "feedback": "Yes: scaling counts to sum to one."}']
    ) as url:
        settings.EUREKA_MODEL_BASE_URL = url
        attempt = submit("scaling so they add up to 1")
    assert attempt.grading == Attempt.Grading.MODEL
    assert attempt.correct and attempt.feedback == "Yes: scaling counts to sum to one."
    assert ExerciseProgress.objects.get(user=sample_student, exercise_slug="name-the-step").solved
    assert (
        ConceptMastery.objects.get(user=sample_student, concept_slug="normalisation").observations
        == 1
    )


@pytest.mark.parametrize(
    "reply",
    [
        "I think it is right",
        '{"correct": "yes", "feedback": "ok"}',
        '{"feedback": "fine"}',
        "[true]",
    ],
)
def test_an_unparseable_grade_goes_to_a_human_ta(submit, settings, reply):
    with stand_in_model([reply]) as url:
        settings.EUREKA_MODEL_BASE_URL = url
        attempt = submit("dividing by the sum")
    assert attempt.grading == Attempt.Grading.NEEDS_TA
    assert not attempt.correct
    assert "A TA will review this answer" in attempt.feedback


def test_with_the_real_models_noise_or_no_model_the_answer_waits_for_a_ta(
    submit, settings, model_worker
):
    settings.EUREKA_MODEL_BASE_URL = model_worker
    assert submit("making them sum to one").grading == Attempt.Grading.NEEDS_TA
    settings.EUREKA_MODEL_BASE_URL = "http://127.0.0.1:9/v1"
    assert submit("making them add to one").grading == Attempt.Grading.NEEDS_TA


def test_grading_twice_changes_nothing(submit, settings):
    with stand_in_model(['{"correct": false, "feedback": "That is a different idea."}']) as url:
        settings.EUREKA_MODEL_BASE_URL = url
        attempt = submit("averaging")
        again = grade_short_answer.delay(attempt.pk).get()
    assert again == Attempt.Grading.MODEL
    attempt.refresh_from_db()
    assert (attempt.correct, attempt.feedback) == (False, "That is a different idea.")
