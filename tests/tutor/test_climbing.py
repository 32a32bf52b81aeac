"""A student climbs the sample ramp in the browser."""

import pytest

from courses import services as course_services
from tutor.models import Attempt, Enrollment, ExerciseProgress

STEP1 = "/courses/sample-ramp/steps/counting-characters/"
EX_COUNT = f"{STEP1}exercises/count-l/"
EX_CHOICE = f"{STEP1}exercises/most-common/"
STEP2 = "/courses/sample-ramp/steps/probabilities/"


@pytest.fixture
def learner_client(client, sample_student):
    client.force_login(sample_student)
    return client


def test_course_map_shows_chapters_progress_and_what_is_unlocked(learner_client):
    html = learner_client.get("/courses/sample-ramp/").content.decode()
    assert "Course map" in html and "Counting" in html and "Bigrams" in html
    assert "0 of 3 steps done" in html
    assert f'href="{STEP1}"' in html
    assert f'href="{STEP2}"' not in html  # locked until counting is done
    assert html.count("locked") >= 2


def test_step_page_renders_markdown_and_exercises_but_not_probes(learner_client):
    html = learner_client.get(STEP1).content.decode()
    assert "<h1>Counting characters</h1>" in html
    assert '<pre class="highlight">' in html
    assert "How many times does the letter" in html
    assert "mississippi" not in html  # probes are for placement, not practice


def test_locked_step_is_refused_with_what_is_missing(learner_client):
    response = learner_client.get(STEP2)
    assert response.status_code == 403
    assert "Character counts" in response.content.decode()
    attempt = learner_client.post(f"{STEP2}exercises/prob-of-a/", {"answer": "0.5"})
    assert attempt.status_code == 403
    assert not Attempt.objects.exists()


def test_correct_answer_gets_instant_feedback_and_is_stored(learner_client, sample_student):
    response = learner_client.post(EX_COUNT, {"answer": "3"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Correct." in html and "Solved" in html
    attempt = Attempt.objects.get(user=sample_student)
    assert (attempt.answer, attempt.correct, attempt.hints_used) == ("3", True, 0)
    assert attempt.course_version.number == 1
    assert attempt.time_on_task_ms >= 0


def test_wrong_option_names_its_misconception(learner_client):
    response = learner_client.post(EX_CHOICE, {"answer": "1"}, HTTP_HX_REQUEST="true")
    assert "Counting pairs of letters instead of single characters." in response.content.decode()


def test_unreadable_answer_is_a_form_error_keeping_the_text_and_not_an_attempt(
    learner_client,
):
    response = learner_client.post(EX_COUNT, {"answer": "three-ish"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert "Enter a number" in html
    assert 'value="three-ish"' in html
    assert not Attempt.objects.exists()
    no_js = learner_client.post(EX_COUNT, {"answer": "three-ish"})
    assert no_js.status_code == 422
    assert 'value="three-ish"' in no_js.content.decode()
    assert "<h1>Counting characters</h1>" in no_js.content.decode()


def test_hints_come_one_at_a_time_and_are_counted_on_the_attempt(learner_client, sample_student):
    first = learner_client.post(f"{EX_COUNT}hint/", HTTP_HX_REQUEST="true").content.decode()
    assert "Go through the text one character at a time." in first
    assert "next to each other" not in first
    second = learner_client.post(f"{EX_COUNT}hint/", HTTP_HX_REQUEST="true").content.decode()
    assert "next to each other" in second
    learner_client.post(f"{EX_COUNT}hint/", HTTP_HX_REQUEST="true")  # no third hint exists
    progress = ExerciseProgress.objects.get(user=sample_student, exercise_slug="count-l")
    assert progress.hints_revealed == 2
    learner_client.post(EX_COUNT, {"answer": "2"})
    assert Attempt.objects.get().hints_used == 2


def test_solution_stays_locked_until_an_attempt(learner_client):
    page = learner_client.get(STEP1).content.decode()
    assert "The worked solution opens after your first try" in page
    refused = learner_client.post(f"{EX_CHOICE}solution/", HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert "appears 3 times" not in refused.content.decode()
    learner_client.post(EX_CHOICE, {"answer": "2"})
    opened = learner_client.post(f"{EX_CHOICE}solution/", HTTP_HX_REQUEST="true")
    assert opened.status_code == 200
    assert "appears 3 times" in opened.content.decode()


def test_solution_opens_after_the_last_hint_without_an_attempt(learner_client):
    learner_client.post(f"{EX_CHOICE}hint/")
    opened = learner_client.post(f"{EX_CHOICE}solution/", HTTP_HX_REQUEST="true")
    assert opened.status_code == 200
    assert "appears 3 times" in opened.content.decode()


def test_finishing_a_step_unlocks_the_next_and_reload_returns_to_the_place(
    learner_client, sample_student
):
    learner_client.post(EX_COUNT, {"answer": "3"})
    learner_client.post(EX_CHOICE, {"answer": "0"})
    assert learner_client.get(STEP2).status_code == 200
    course_map = learner_client.get("/courses/sample-ramp/").content.decode()
    assert "1 of 3 steps done" in course_map
    assert Enrollment.objects.get(user=sample_student).current_step_slug == "probabilities"
    resume = learner_client.get("/courses/sample-ramp/continue/")
    assert resume.url == STEP2


def test_no_js_submission_redirects_back_to_the_exercise_with_feedback(learner_client):
    response = learner_client.post(EX_COUNT, {"answer": "3"}, follow=True)
    assert response.redirect_chain[-1][0] == f"{STEP1}#ex-count-l"
    assert "Correct." in response.content.decode()


def test_attempt_keeps_pointing_at_the_version_it_answered(learner_client, sample_course):
    learner_client.post(EX_COUNT, {"answer": "3"})
    course_services.course_publish(course=sample_course, user=None)
    learner_client.post(EX_COUNT, {"answer": "4"})
    numbers = sorted(Attempt.objects.values_list("course_version__number", flat=True))
    assert numbers == [1, 2]


def test_outsiders_and_unpublished_courses_get_clear_errors(
    client, outsider, sample_course, draft_course
):
    client.force_login(outsider)
    not_enrolled = client.post(EX_COUNT, {"answer": "3"})
    assert not_enrolled.status_code == 403
    assert "Enroll in this course" in not_enrolled.content.decode()
    assert client.get(f"/courses/{draft_course.slug}/steps/anything/").status_code == 404


def test_unknown_step_and_exercise_are_404(learner_client):
    assert learner_client.get("/courses/sample-ramp/steps/no-such-step/").status_code == 404
    assert learner_client.post(f"{STEP1}exercises/nope/", {"answer": "1"}).status_code == 404


def test_student_of_an_unpublished_course_gets_404_on_submission(client, db):
    from tests.factories import CourseFactory, EnrollmentFactory

    course = CourseFactory(slug="unpub", is_published=False)
    user = EnrollmentFactory(course=course).user
    client.force_login(user)
    response = client.post("/courses/unpub/steps/a/exercises/b/", {"answer": "1"})
    assert response.status_code == 404
