"""The learner state the policy reads is rebuilt from the stored answers: recent results, and
the wrong streaks per concept that its prerequisite checks need."""

from courses.selectors import latest_version, version_spec
from tutor import services

STEP = "counting-characters"


def _answer(course, user, exercise_slug, text):
    version = latest_version(course)
    step = version_spec(version).step(STEP)
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
