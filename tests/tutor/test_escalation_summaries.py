"""Escalations when the AI TA cannot answer (nothing relevant in the course, or the model says it
does not know), and the case summary: the model's when it is reachable, else the extract."""

import contextlib

import pytest
from asgiref.sync import sync_to_async

from courses.selectors import latest_version
from tests.stand_in_model import stand_in_model
from tests.tutor.test_ta_chat import connect, student_cookie
from tutor import escalations, retrieval, ta
from tutor.model_client import ModelUnavailable
from tutor.models import Escalation, Message

Reason = Escalation.Reason
STEP = "counting-characters"


@pytest.fixture
def conversation(sample_course, sample_student):
    return ta.conversation_for(sample_student, sample_course, STEP)


@pytest.fixture
def indexed(sample_course, without_model_worker):
    """The course's passages stored for full-text search (the publish's own indexing runs
    after a commit, which a test transaction never makes); no embeddings without a model."""
    with contextlib.suppress(ModelUnavailable):
        retrieval.index_version(latest_version(sample_course).pk)


def say(conversation, text):
    posted = ta.post_student_message(
        conversation_id=conversation.pk, user_id=conversation.user_id, text=text, client_id=""
    )
    ta.after_planning(ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk))
    ta.save_reply(posted.reply.pk, "ok", complete=True)
    return posted.message


@pytest.mark.parametrize(
    ("text", "opens"),
    [
        ("What is the capital city of Australia and how big is it?", True),
        ("Who won the football world cup in nineteen ninety?", True),
        ("How do I count each character in a string?", False),  # the step is about this
        # A later, locked step covers it: what this student may see has nothing on it.
        ("Why do probabilities of the next character sum to one?", True),
        ("thanks, that helped a lot", False),  # not a question
        ("why?", False),  # too short to say anything about the course
    ],
)
def test_a_question_the_course_has_nothing_on_opens_a_case(conversation, indexed, text, opens):
    say(conversation, text)
    cases = Escalation.objects.filter(reason=Reason.UNANSWERED)
    assert cases.exists() is opens
    if opens:
        case = cases.get()
        assert text in case.trigger and case.priority == Escalation.Priority.NORMAL


def test_a_course_not_indexed_yet_opens_no_case(conversation, without_model_worker):
    say(conversation, "What is the capital city of Australia and how big is it?")
    assert not Escalation.objects.filter(reason=Reason.UNANSWERED).exists()


def _assistant(conversation, content, **fields):
    return Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content=content, **fields
    )


@pytest.mark.parametrize(
    ("content", "fields", "opens"),
    [
        ("I'm not sure what that means in this course.", {"model": "nanochat"}, True),
        ("I don't know. Try asking a TA.", {"model": "nanochat"}, True),
        ("I cannot answer that from the material.", {"model": "nanochat"}, True),
        ("Counting each character is a loop.", {"model": "nanochat"}, False),
        # Authored text when generation is off is the course speaking, not the model.
        ("I don't know", {"flags": {"generation_off": True}}, False),
    ],
)
def test_the_model_saying_it_does_not_know_opens_a_case(conversation, content, fields, opens):
    _assistant(conversation, content, **fields)
    escalations.check_after_turn(conversation_id=conversation.pk)
    assert Escalation.objects.filter(reason=Reason.UNANSWERED).exists() is opens


@pytest.mark.django_db(transaction=True)
async def test_a_streamed_i_do_not_know_reply_opens_a_case(sample_course, settings):
    """Through the whole turn: the stand-in model (the real one cannot be made to say it on
    demand) streams "I'm not sure", and the case opens after the reply is stored."""
    with stand_in_model(["I'm not sure ", "about that one."], model="unsure") as url:
        settings.EUREKA_MODEL_BASE_URL = url
        settings.EUREKA_CHAT_MODEL = "unsure"
        _, cookie = await student_cookie(sample_course)
        chat = await connect(cookie)
        try:
            await chat.receive_json_from()
            await chat.send_json_to(
                {
                    "type": "message",
                    "text": "How do I count each character in a string?",
                    "client_id": "u1",
                }
            )
            while True:
                event = await chat.receive_json_from(timeout=30)
                message = event.get("message", {})
                if message.get("role") == "assistant" and message.get("complete"):
                    break
        finally:
            await chat.disconnect()
    case = await sync_to_async(Escalation.objects.get)(reason=Reason.UNANSWERED)
    assert "I'm not sure about that one." in case.trigger


def test_the_model_writes_the_summary_when_it_is_reachable(
    conversation, settings, django_capture_on_commit_callbacks
):
    words = "The student miscounts the letter l in hello world and wants a person to explain."
    with stand_in_model([words], model="summariser") as url:
        settings.EUREKA_MODEL_BASE_URL = url
        settings.EUREKA_CHAT_MODEL = "summariser"
        with django_capture_on_commit_callbacks(execute=True):
            case = escalations.escalation_request_human(conversation=conversation)
        case.refresh_from_db()
        assert case.summary_by_model and case.summary == words
        # Redelivered: nothing changes.
        assert escalations.escalation_summarise(escalation_id=case.pk) == "skipped"


def test_without_the_model_the_extract_stays(
    conversation, without_model_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = escalations.escalation_request_human(conversation=conversation, note="Help please")
    case.refresh_from_db()
    assert not case.summary_by_model
    assert case.summary.startswith("Asked for a human.") and "Help please" in case.summary


@pytest.mark.parametrize("reply", ["", "   ", "ok", "\x00\x01\x02"])
def test_an_unusable_model_summary_keeps_the_extract(conversation, settings, reply):
    case = escalations.escalation_request_human(conversation=conversation)
    extract = case.summary
    with stand_in_model([reply], model="terse") as url:
        settings.EUREKA_MODEL_BASE_URL = url
        settings.EUREKA_CHAT_MODEL = "terse"
        assert escalations.escalation_summarise(escalation_id=case.pk) == "extractive"
    case.refresh_from_db()
    assert case.summary == extract and not case.summary_by_model
