"""The placement probe, the suggested next exercise and "what I know", through the browser."""

import threading

import pytest
from django.db import connection
from django.test import Client

from tutor import services
from tutor.models import ConceptMastery, Enrollment, PlacementProbe

BASE = "/courses/sample-ramp"


@pytest.fixture
def learner_client(client, sample_student):
    client.force_login(sample_student)
    return client


def correct_answer(probe):
    """The right answer to the probe currently asked."""
    from courses.selectors import version_spec

    spec = version_spec(probe.course_version)
    item = next(
        p for p in spec.step(probe.current_step_slug).probes if p.slug == probe.current_probe_slug
    )
    if item.kind == "multiple_choice":
        return str(next(i for i, o in enumerate(item.options) if o.correct))
    if item.kind == "numeric":
        return str(item.answer)
    return item.accepted[0]


def answer(client, probe, value):
    return client.post(
        f"{BASE}/placement/answer/",
        {
            "action": "answer",
            "question": probe.question_number,
            "step": probe.current_step_slug,
            "probe": probe.current_probe_slug,
            "answer": value,
        },
    )


def test_enrolling_leads_to_the_placement_offer(client, outsider, sample_course):
    client.force_login(outsider)
    response = client.post(f"{BASE}/enroll/", follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == f"{BASE}/placement/"
    assert "Start the questions" in html and "Skip" in html


def test_a_student_who_knows_everything_is_placed_with_an_explanation(
    learner_client, sample_student
):
    learner_client.post(f"{BASE}/placement/answer/", {"action": "start"})
    for _ in range(12):
        probe = PlacementProbe.objects.get(user=sample_student)
        if probe.state != PlacementProbe.State.ACTIVE:
            break
        assert "Question" in learner_client.get(f"{BASE}/placement/").content.decode()
        answer(learner_client, probe, correct_answer(probe))
    probe = PlacementProbe.objects.get(user=sample_student)
    assert probe.state == PlacementProbe.State.FINISHED
    assert len(probe.asked) <= 12
    assert "You already know" in probe.explanation or "everything" in probe.explanation
    mastery = dict(
        ConceptMastery.objects.filter(user=sample_student).values_list("concept_slug", "p_known")
    )
    assert mastery["character-counts"] > 0.8


def test_a_student_who_knows_nothing_starts_at_the_beginning(learner_client, sample_student):
    learner_client.post(f"{BASE}/placement/answer/", {"action": "start"})
    while (
        probe := PlacementProbe.objects.get(user=sample_student)
    ).state == PlacementProbe.State.ACTIVE:
        answer(learner_client, probe, "0" if "bigram" not in probe.current_probe_slug else "nope")
    assert probe.placed_step_slug == "counting-characters"
    assert probe.explanation == "We start at the beginning, with “Counting characters”."
    assert Enrollment.objects.get(user=sample_student).current_step_slug == "counting-characters"


def test_replayed_and_unasked_answers_are_refused_and_change_nothing(
    learner_client, sample_student
):
    learner_client.post(f"{BASE}/placement/answer/", {"action": "start"})
    probe = PlacementProbe.objects.get(user=sample_student)
    first = PlacementProbe.objects.values().get(pk=probe.pk)
    wrong_question = learner_client.post(
        f"{BASE}/placement/answer/",
        {
            "action": "answer",
            "question": probe.question_number,
            "step": "probabilities",
            "probe": "not-asked",
            "answer": "1",
        },
    )
    assert wrong_question.status_code == 409
    assert "not for the current question" in wrong_question.content.decode()
    assert PlacementProbe.objects.values().get(pk=probe.pk) == first
    assert answer(learner_client, probe, correct_answer(probe)).status_code == 302
    replay = answer(learner_client, probe, correct_answer(probe))  # the same question again
    assert replay.status_code == 409
    assert PlacementProbe.objects.get(pk=probe.pk).question_number == 2


def test_an_answer_after_the_probe_ended_is_refused(learner_client, sample_student):
    learner_client.post(f"{BASE}/placement/answer/", {"action": "start"})
    probe = PlacementProbe.objects.get(user=sample_student)
    learner_client.post(f"{BASE}/placement/answer/", {"action": "skip"})
    late = answer(learner_client, probe, correct_answer(probe))
    assert late.status_code == 409
    assert "ended" in late.content.decode()


def test_unreadable_probe_answer_keeps_the_text_and_the_question(learner_client, sample_student):
    learner_client.post(f"{BASE}/placement/answer/", {"action": "start"})
    probe = PlacementProbe.objects.get(user=sample_student)
    item_kind_numeric = probe.current_probe_slug in {"count-probe"}
    response = answer(learner_client, probe, "lots" if item_kind_numeric else "")
    assert response.status_code in {409, 422}
    assert PlacementProbe.objects.get(pk=probe.pk).question_number == 1


def test_skipping_starts_at_the_beginning_and_redo_starts_again(learner_client, sample_student):
    response = learner_client.post(f"{BASE}/placement/answer/", {"action": "skip"}, follow=True)
    assert "You skipped the placement questions" in response.content.decode()
    learner_client.post(f"{BASE}/placement/answer/", {"action": "start"})
    assert PlacementProbe.objects.filter(user=sample_student, state="active").count() == 1
    assert PlacementProbe.objects.filter(user=sample_student).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_tabs_answering_at_once_never_both_count(sample_files):
    from courses import services as course_services
    from tests.factories import EnrollmentFactory, UserFactory
    from tutor.models import Role

    course = course_services.course_import(files=sample_files).course
    version = course_services.course_publish(course=course, user=None)
    user = EnrollmentFactory(
        course=course, user=UserFactory(username="two-tabs"), role=Role.STUDENT
    ).user
    probe = services.placement_start(user=user, course=course, version=version)
    value = correct_answer(probe)
    results = []
    barrier = threading.Barrier(2)

    def tab():
        client = Client()
        client.force_login(user)
        barrier.wait()
        results.append(answer(client, probe, value).status_code)
        connection.close()

    threads = [threading.Thread(target=tab) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [302, 409]
    probe.refresh_from_db()
    assert probe.question_number == 2 and len(probe.asked) == 1


def test_next_exercise_goes_to_the_suggestion_with_its_reason(learner_client):
    response = learner_client.get(f"{BASE}/next/", follow=True)
    url = response.redirect_chain[-1][0]
    assert url.startswith(f"{BASE}/steps/counting-characters/#ex-")
    assert "chance you get it right" in response.content.decode()


def test_answers_update_mastery_and_the_knowledge_page_shows_it(learner_client, sample_student):
    learner_client.post(f"{BASE}/steps/counting-characters/exercises/count-l/", {"answer": "3"})
    row = ConceptMastery.objects.get(user=sample_student, concept_slug="character-counts")
    assert row.p_known > 0.8 and row.observations == 1
    page = learner_client.get(f"{BASE}/knowledge/").content.decode()
    assert "What I know" in page
    assert 'id="mastery-graph"' in page
    assert "Character counts" in page
    assert "answers right over 1 day" in page


def test_mastery_unlocks_steps_after_placement(learner_client, sample_student, sample_course):
    ConceptMastery.objects.create(
        user=sample_student, course=sample_course, concept_slug="character-counts", p_known=0.97
    )
    assert learner_client.get(f"{BASE}/steps/probabilities/").status_code == 200
