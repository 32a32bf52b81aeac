"""What a TA turn reads about the student for its prompt: the exercise they are on with their
answers and hints, their mastery, the conversation so far, and nothing of another course."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

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
    assert plan.guard is None  # nothing is withheld any more, so the reply has nothing to pass
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


def test_a_turn_reads_its_state_in_one_statement_and_retrieves_in_a_few_more(
    sample_course, sample_student, with_model_worker, settings
):
    """A student waits on every round trip of a turn's preparation: one statement for the
    message, conversation, user, course, version, state and limits; then the endorsed answers,
    the full-text ranking and the vector ranking (its transaction setting included)."""
    from tutor import retrieval

    version = latest_version(sample_course)
    retrieval.index_version(version.pk)
    conversation = ta.conversation_for(sample_student, sample_course, STEP)
    post = {"conversation_id": conversation.pk, "user_id": sample_student.pk}
    earlier = ta.post_student_message(**post, text="What is a character?", client_id="e")
    ta.save_reply(earlier.reply.pk, "A letter.", complete=True, completion_tokens=40)
    posted = ta.post_student_message(**post, text="How do I count characters?", client_id="c")
    ahead = retrieval.prefetch_query_embedding(posted.message.content)
    assert ahead is not None
    ahead.result(timeout=30)
    settings.EUREKA_TA_TOKENS_PER_DAY = 40

    version_spec(version)  # parsed once per process and kept (published versions never change)

    with CaptureQueriesContext(connection) as captured:
        plan = ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk, ahead)
        # Built from that one row, and loaded: reading them costs no statement.
        assert plan.conversation.user.username == sample_student.username
        assert plan.conversation.course.slug == sample_course.slug
    # Savepoints are the test's own transaction, not the turn's.
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) <= 5, "\n\n".join(statements)

    assert plan.student_text == "How do I count characters?"
    assert plan.context.history == [("student", "What is a character?"), ("assistant", "A letter.")]
    assert plan.citations and all(STEP in c["url"] for c in plan.citations)
    assert "budget for today is spent" in plan.limit_message


def test_the_reads_made_with_the_post_give_the_same_plan_without_reading_again(
    sample_course, sample_student
):
    conversation = ta.conversation_for(sample_student, sample_course, STEP)
    post = {"conversation_id": conversation.pk, "user_id": sample_student.pk}
    earlier = ta.post_student_message(**post, text="What is a character?", client_id="e")
    ta.save_reply(earlier.reply.pk, "A letter.", complete=True)
    posted = ta.post_student_message(
        **post, text="How do I count characters?", client_id="c", read_turn=True
    )
    assert posted.reads is not None and posted.reads.student.pk == posted.message.pk
    version_spec(latest_version(sample_course))

    with CaptureQueriesContext(connection) as captured:
        with_reads = ta.plan_turn(
            conversation.pk, posted.message.pk, posted.reply.pk, reads=posted.reads
        )
    without = ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk)

    assert with_reads.context == without.context
    # A locked exercise: the plan carries the solution guard its streamed reply is checked with.
    assert not with_reads.context.solution_unlocked and with_reads.exercise is not None
    assert with_reads.guard is not None and with_reads.guard.exercise is with_reads.exercise
    assert with_reads.context.history == [
        ("student", "What is a character?"),
        ("assistant", "A letter."),
    ]
    assert not any("tutor_conversation c" in q["sql"] for q in captured.captured_queries)
