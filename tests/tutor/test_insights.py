"""Instructor insights: study time, mastery gained per answer, the per-step figures, the most
common questions (embeddings from the real model worker, or shared words when it is down), the
pages, the charts and the CSV; who may see them."""

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from courses.selectors import latest_version, version_spec
from tests.factories import EnrollmentFactory, UserFactory
from tutor import insights, services, ta
from tutor.models import Attempt, Escalation, Message, Role, StudyTime

STEP = "counting-characters"


@pytest.fixture
def spec(sample_course):
    return version_spec(latest_version(sample_course))


@pytest.fixture
def students(sample_course):
    return [
        EnrollmentFactory(
            course=sample_course, user=UserFactory(username=f"s{i}"), role=Role.STUDENT
        ).user
        for i in range(3)
    ]


@pytest.fixture
def course_instructor(sample_course):
    return EnrollmentFactory(
        course=sample_course, user=UserFactory(username="prof"), role=Role.INSTRUCTOR
    ).user


def _answer(course, spec, user, exercise_slug, text, step_slug=STEP):
    step = spec.step(step_slug)
    exercise = next(e for e in step.exercises if e.slug == exercise_slug)
    return services.attempt_submit(
        user=user, version=latest_version(course), step=step, exercise=exercise, answer=text
    ).attempt


def _hint(course, spec, user, exercise_slug, step_slug=STEP):
    step = spec.step(step_slug)
    exercise = next(e for e in step.exercises if e.slug == exercise_slug)
    return services.hint_reveal(user=user, course=course, step=step, exercise=exercise)


# ---------------------------------------------------------------------------------------------
# What is recorded


def test_study_time_counts_gaps_under_the_idle_gap_only(sample_course, sample_student):
    start = timezone.now() - timedelta(hours=2)

    def at(minutes):
        return services.study_time_record(
            user=sample_student,
            course=sample_course,
            step_slug=STEP,
            now=start + timedelta(minutes=minutes),
        )

    at(0)
    at(3)
    row = at(7)
    assert (row.active_seconds, row.sessions) == (7 * 60, 1)
    row = at(60)  # 53 minutes away: a new session, not study time
    assert (row.active_seconds, row.sessions) == (7 * 60, 2)
    row = at(62)
    assert row.active_seconds == 9 * 60
    row = at(61)  # an event that arrives late changes nothing
    assert row.active_seconds == 9 * 60
    assert StudyTime.objects.count() == 1


def test_opening_a_step_answering_hints_and_the_ta_all_count_as_activity(
    sample_course, sample_student, spec
):
    client = Client()
    client.force_login(sample_student)
    assert client.get(reverse("step_page", args=[sample_course.slug, STEP])).status_code == 200
    _hint(sample_course, spec, sample_student, "count-l")
    _answer(sample_course, spec, sample_student, "count-l", "3")
    conversation = ta.conversation_for(sample_student, sample_course, STEP)
    posted = ta.post_student_message(
        conversation_id=conversation.pk,
        user_id=sample_student.pk,
        text="Is a space a character too?",
        client_id="",
    )
    # The turn records the study time, while the model writes its reply.
    ta.after_planning(ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk))
    row = StudyTime.objects.get(user=sample_student, step_slug=STEP)
    assert row.first_seen_at <= row.last_seen_at
    assert row.sessions == 1


def test_a_graded_answer_stores_the_mastery_it_moved(sample_course, sample_student, spec):
    right = _answer(sample_course, spec, sample_student, "count-l", "3")
    wrong = _answer(sample_course, spec, sample_student, "most-common", "1")  # "n"
    right.refresh_from_db()
    wrong.refresh_from_db()
    assert right.mastery_gain is not None and right.mastery_gain > 0
    assert wrong.mastery_gain is not None and wrong.mastery_gain < 0


# ---------------------------------------------------------------------------------------------
# The figures


def test_step_figures_from_three_students(
    sample_course, spec, students, course_instructor, django_capture_on_commit_callbacks
):
    stuck, solver, gone = students
    now = timezone.now()
    # The stuck student: twenty minutes of study, a hint, then three wrong answers in a row.
    for minutes in (0, 5, 10, 15, 20):
        services.study_time_record(
            user=stuck,
            course=sample_course,
            step_slug=STEP,
            now=now - timedelta(minutes=30 - minutes),
        )
    _hint(sample_course, spec, stuck, "count-l")
    with django_capture_on_commit_callbacks(execute=True):
        for text in ("2", "4", "5"):
            _answer(sample_course, spec, stuck, "count-l", text)
    # The solver: right at once, four minutes.
    services.study_time_record(
        user=solver, course=sample_course, step_slug=STEP, now=now - timedelta(minutes=10)
    )
    services.study_time_record(
        user=solver, course=sample_course, step_slug=STEP, now=now - timedelta(minutes=6)
    )
    _answer(sample_course, spec, solver, "count-l", "3")
    # Gone: opened the step nine days ago and never came back.
    services.study_time_record(
        user=gone, course=sample_course, step_slug=STEP, now=now - timedelta(days=9)
    )
    # The instructor's own activity is not a student's.
    for text in ("1", "2", "9"):
        _answer(sample_course, spec, course_instructor, "count-l", text)

    data = insights.course_insights(sample_course)
    assert data.students == 3  # the instructor is not counted
    step = data.step(STEP)
    assert step is not None
    assert step.reached == 3
    assert step.stuck == 1 and step.stuck_rate == pytest.approx(1 / 3)
    # Exercises started: the stuck student's and the solver's count-l (the gone student opened
    # the page through study time only).
    assert step.exercises_started == 2
    assert step.hint_rate == pytest.approx(1 / 2)
    # Study time: the stuck student's 20 minutes (the hint came just over the idle gap later:
    # a new session); the solver's 4 minutes, then about 6 until the answer.
    studied = dict(
        StudyTime.objects.filter(user__in=students).values_list("user__username", "active_seconds")
    )
    assert studied["s0"] == 20 * 60
    assert studied["s1"] == pytest.approx(10 * 60, abs=5)
    assert studied["s2"] == 0
    assert step.median_seconds == pytest.approx((studied["s0"] + studied["s1"]) / 2)
    assert step.left_here == 1 and step.drop_off_rate == pytest.approx(1 / 3)
    gains = Attempt.objects.filter(user__in=[stuck, solver]).values_list("mastery_gain", flat=True)
    assert step.mastery_gain == pytest.approx(sum(gains))
    minutes = (studied["s0"] + studied["s1"]) / 60
    assert step.mastery_per_minute == pytest.approx(sum(gains) / minutes)
    # The stuck student's third wrong answer opened a case.
    assert step.escalations == {str(Escalation.Reason.FAILED_REPEATEDLY.label): 1}
    assert data.reasons[str(Escalation.Reason.FAILED_REPEATEDLY.label)] == 1
    later = data.step("bigram-sampling")
    assert later is not None and later.reached == 0 and later.stuck_rate is None


def test_a_wrong_answer_after_every_hint_counts_as_stuck(sample_course, spec, sample_student):
    for _ in range(2):
        _hint(sample_course, spec, sample_student, "count-l")
    _answer(sample_course, spec, sample_student, "count-l", "2")
    assert insights.course_insights(sample_course).step(STEP).stuck == 1


def test_a_student_who_finished_the_ramp_has_not_dropped_off(sample_course, spec, sample_student):
    last = "bigram-sampling"
    for exercise in spec.step(last).exercises:
        if exercise.kind == "multiple_choice":
            answer = str(next(i for i, o in enumerate(exercise.options) if o.correct))
        else:
            answer = str(exercise.answer if exercise.answer is not None else exercise.accepted[0])
        attempt = _answer(sample_course, spec, sample_student, exercise.slug, answer, last)
        assert attempt.correct, exercise.slug
    StudyTime.objects.filter(user=sample_student).update(
        last_seen_at=timezone.now() - timedelta(days=30)
    )
    assert insights.course_insights(sample_course).step(last).left_here == 0


# ---------------------------------------------------------------------------------------------
# The most common questions

QUESTIONS = [
    ("s0", "How do I count how many times each character appears in a string?"),
    ("s1", "What is the way to count the occurrences of every character in a text?"),
    ("s2", "How can I count how often each letter shows up in a string?"),
    ("s0", "Why do the probabilities of the next character have to sum to one?"),
    ("s1", "My laptop fan is very loud when the notebook runs, is that normal?"),
]


def _ask_all(sample_course, students):
    by_name = {u.username: u for u in students}
    for name, text in QUESTIONS:
        conversation = ta.conversation_for(by_name[name], sample_course, STEP)
        Message.objects.create(
            conversation=conversation, role=Message.Role.STUDENT, content=text, author=by_name[name]
        )


def test_questions_are_grouped_by_meaning_with_the_model_workers_embeddings(
    sample_course, students, with_model_worker
):
    _ask_all(sample_course, students)
    found = insights.common_questions(sample_course)
    assert found.method == "embeddings" and found.questions == 5
    top = found.clusters[0]
    assert top.count == 3 and top.students == 3
    assert top.steps == {STEP: 3}
    counting = {q for _, q in QUESTIONS[:3]}
    assert top.text in counting and set(top.examples) | {top.text} == counting
    assert sorted(c.count for c in found.clusters) == [1, 1, 3]
    # Each message is embedded once and kept.
    assert Message.objects.filter(embedding__isnull=False).count() == 5
    assert insights.common_questions(sample_course, step_slug="probabilities").questions == 0


def test_without_the_model_questions_are_grouped_by_shared_words(
    sample_course, students, without_model_worker
):
    _ask_all(sample_course, students)
    found = insights.common_questions(sample_course)
    assert found.method == "words"
    assert found.questions == 5
    # The two wordings that share many words meet; the paraphrase in other words does not.
    assert [c.count for c in found.clusters] == [2, 1, 1, 1]
    assert Message.objects.filter(embedding__isnull=False).count() == 0


def test_clustering_by_vectors_joins_the_nearest_group_over_the_threshold():
    import numpy as np

    vectors = np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0], [0.28, 0.96], [0.71, 0.71]])
    groups = insights._cluster_by_vectors(vectors, threshold=0.9)
    assert [members for members, _ in groups] == [[0, 1], [2, 3], [4]]


# ---------------------------------------------------------------------------------------------
# Pages, charts, CSV, access


def test_the_insights_page_shows_figures_charts_and_questions(
    sample_course, spec, students, course_instructor, without_model_worker
):
    _answer(sample_course, spec, students[0], "count-l", "2")
    _ask_all(sample_course, students)
    client = Client()
    client.force_login(course_instructor)
    page = client.get(reverse("course_insights", args=[sample_course.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="bar-chart"') >= 5
    assert "Counting characters" in html and "Stuck rate per step" in html
    assert "grouped by shared words" in html
    assert QUESTIONS[4][1] in html
    step_page = client.get(reverse("step_insights", args=[sample_course.slug, STEP]))
    assert step_page.status_code == 200
    assert "What students asked here" in step_page.content.decode()
    missing = client.get(reverse("step_insights", args=[sample_course.slug, "no-such-step"]))
    assert missing.status_code == 404


def test_the_csv_has_one_row_per_step_and_keeps_formulas_as_text(
    sample_course, spec, students, course_instructor
):
    attempt = _answer(sample_course, spec, students[0], "count-l", "2")
    attempt.refresh_from_db()
    client = Client()
    client.force_login(course_instructor)
    response = client.get(reverse("course_insights_csv", args=[sample_course.slug]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == insights.CSV_COLUMNS
    assert [r[1] for r in rows[1:]] == [s.slug for s in spec.steps()]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["students_reached"] == "1"
    assert float(first["mastery_gained"]) == pytest.approx(attempt.mastery_gain, abs=1e-3)
    from tutor.insight_views import _as_text

    assert _as_text("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _as_text("-0.5") == "-0.5"


@pytest.mark.parametrize("who", ["anonymous", "student", "ta", "outsider"])
def test_only_instructors_and_staff_see_insights(sample_course, sample_student, who):
    client = Client()
    if who == "student":
        client.force_login(sample_student)
    elif who == "ta":
        user = UserFactory(username="ta1")
        EnrollmentFactory(course=sample_course, user=user, role=Role.TA)
        client.force_login(user)
    elif who == "outsider":
        client.force_login(UserFactory(username="nobody"))
    for name, args in (
        ("course_insights", [sample_course.slug]),
        ("course_insights_csv", [sample_course.slug]),
        ("step_insights", [sample_course.slug, STEP]),
    ):
        response = client.get(reverse(name, args=args))
        if who == "anonymous":
            assert response.status_code == 302 and "login" in response["Location"]
        else:
            assert response.status_code == 403, (who, name)


def test_staff_see_insights(sample_course, staff):
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("course_insights", args=[sample_course.slug])).status_code == 200
