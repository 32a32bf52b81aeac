"""What a TA turn reads about the student for its prompt: the exercise they are on with their
answers and hints, their mastery, the conversation so far, and nothing of another course."""

from __future__ import annotations

from courses.models import CourseVersion
from courses.selectors import latest_version, version_spec
from tests.factories import CourseFactory
from tutor import prompting, services, ta
from tutor.models import Attempt, ConceptMastery, Message

STEP = "counting-characters"


def test_the_plan_holds_the_students_exercise_answers_hints_mastery_and_conversation(
    sample_course, sample_student
):
    version = latest_version(sample_course)
    spec = version_spec(version)
    step = spec.step(STEP)
    exercise = step.exercises[0]
    services.attempt_submit(
        user=sample_student, version=version, step=step, exercise=exercise, answer="2"
    )
    services.hint_reveal(user=sample_student, course=sample_course, step=step, exercise=exercise)
    ConceptMastery.objects.update_or_create(
        user=sample_student,
        course=sample_course,
        concept_slug=step.teaches[0],
        defaults={"p_known": 0.4},
    )
    # The same step and exercise slugs in another course: none of it is this course's.
    other = CourseFactory(slug="elsewhere")
    elsewhere = CourseVersion.objects.create(course=other, number=1, spec=version.spec)
    Attempt.objects.create(
        user=sample_student,
        course_version=elsewhere,
        step_slug=STEP,
        exercise_slug=exercise.slug,
        answer="99",
        correct=False,
    )
    conversation = ta.conversation_for(sample_student, sample_course, STEP)
    post = {"conversation_id": conversation.pk, "user_id": sample_student.pk}
    for n in range(5):
        earlier = ta.post_student_message(**post, text=f"question {n}", client_id=f"q{n}")
        ta.save_reply(earlier.reply.pk, f"answer {n}", complete=True)
    posted = ta.post_student_message(**post, text="Why is it 3?", client_id="now")

    plan = ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk)

    context = plan.context
    assert plan.exercise is not None and plan.exercise.slug == exercise.slug
    assert context.attempts == [prompting.Attempt("2", False)]
    assert context.hints_revealed == 1
    assert context.solution_unlocked  # attempted once
    concept = spec.concept(step.teaches[0])
    assert concept is not None and context.mastery == {concept.name: 0.4}
    # The last 8 complete messages before this one, oldest first; not the one being answered.
    assert context.history == [
        (role, f"{word} {n}")
        for n in range(1, 5)
        for role, word in (("student", "question"), ("assistant", "answer"))
    ]
    assert plan.student_text == "Why is it 3?" and not plan.limit_message
    assert Message.objects.filter(conversation=conversation).count() == 12
