"""The learner state the policy reads is rebuilt from the stored answers: recent results, the
wrong streaks per concept that its prerequisite checks need, and whether the last answer was a
review."""

from datetime import timedelta

from django.utils import timezone

from courses.selectors import latest_version, version_spec
from tutor import services
from tutor.models import Attempt, ConceptMastery

STEP = "counting-characters"


def _answer(course, user, exercise_slug, text, step_slug=STEP):
    version = latest_version(course)
    step = version_spec(version).step(step_slug)
    exercise = next(e for e in step.exercises if e.slug == exercise_slug)
    services.attempt_submit(user=user, version=version, step=step, exercise=exercise, answer=text)


def test_wrong_answers_make_a_streak_and_a_right_one_clears_it(sample_course, sample_student):
    spec = version_spec(latest_version(sample_course))
    for text in ("2", "4"):
        _answer(sample_course, sample_student, "count-l", text)
    state = services.learner_state(sample_student, sample_course, spec)
    assert state.wrong_streak == {"character-counts": 2}
    assert state.recent == [False, False]
    _answer(sample_course, sample_student, "count-l", "3")
    state = services.learner_state(sample_student, sample_course, spec)
    assert state.wrong_streak == {}
    assert state.recent == [False, False, True]


def _both_reviews_due(course, user):
    yesterday = timezone.now() - timedelta(days=1)
    for concept in ("character-counts", "normalisation"):
        ConceptMastery.objects.create(
            user=user, course=course, concept_slug=concept, p_known=0.99, review_due=yesterday
        )


def test_after_a_review_the_next_suggestion_is_new_material_not_another_review(
    sample_course, sample_student
):
    _both_reviews_due(sample_course, sample_student)
    spec = version_spec(latest_version(sample_course))
    first = services.next_activity_for(user=sample_student, course=sample_course, spec=spec)
    assert first is not None and first.is_review
    _answer(sample_course, sample_student, "count-l", "3")  # on mastered ground: a review
    assert Attempt.objects.get(user=sample_student).on_mastered_ground
    assert services.learner_state(sample_student, sample_course, spec).last_was_review
    # Normalisation is still due, but new material comes first.
    after = services.next_activity_for(user=sample_student, course=sample_course, spec=spec)
    assert after is not None and not after.is_review
    assert after.step_slug == "bigram-sampling"


def test_after_new_material_a_due_review_comes_back(sample_course, sample_student):
    _both_reviews_due(sample_course, sample_student)
    spec = version_spec(latest_version(sample_course))
    _answer(sample_course, sample_student, "context-size", "1", step_slug="bigram-sampling")
    assert not Attempt.objects.get(user=sample_student).on_mastered_ground
    assert not services.learner_state(sample_student, sample_course, spec).last_was_review
    after = services.next_activity_for(user=sample_student, course=sample_course, spec=spec)
    assert after is not None and after.is_review
