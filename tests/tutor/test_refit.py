import random

from tests.factories import UserFactory
from tutor.models import Attempt, ConceptParams
from tutor.tasks import refit_concept_params


def test_the_nightly_refit_learns_parameters_from_the_attempt_log(sample_course):
    version = sample_course.versions.get()
    rng = random.Random(3)
    rows = []
    for i in range(40):
        user = UserFactory(username=f"s{i}")
        known = rng.random() < 0.3
        for _ in range(6):
            correct = rng.random() > 0.1 if known else rng.random() < 0.02
            rows.append(
                Attempt(
                    user=user,
                    course_version=version,
                    step_slug="counting-characters",
                    exercise_slug="count-l",
                    answer="x",
                    correct=correct,
                )
            )
            known = known or rng.random() < 0.25
    Attempt.objects.bulk_create(rows)
    assert refit_concept_params.delay(sample_course.pk).get() == 1
    params = ConceptParams.objects.get(course=sample_course, concept_slug="character-counts")
    assert params.sequences == 40
    assert 0.1 < params.p_init < 0.5
    assert 0.05 < params.p_learn < 0.5
    assert params.p_slip < 0.25
    # Too few students on the other concepts: they keep the authored defaults.
    assert not ConceptParams.objects.filter(concept_slug="normalisation").exists()
