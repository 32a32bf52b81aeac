"""One turn of the AI TA: from a stored student message to a stored, guarded reply.

    student message -> intent -> context (step, exercise, attempts, hints, mastery, passages,
    language) -> prompt -> model stream -> guard -> events to the conversation's group ->
    reply stored -> learner state and escalation rules updated (the latter in the escalation
    module).

A turn runs as its own asyncio task, not inside the WebSocket consumer, so a student whose
connection drops gets the whole reply when they reconnect. Every event carries the whole reply
so far (rendered and sanitised) with a sequence number: a browser that missed some events, or
got one twice, still shows exactly the reply.

When no chat model answers, the TA still replies from authored material (the next hint,
retrieved passages with links) and says plainly that generation is off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol, TypeVar, cast

import openai
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Field, Model
from django.urls import reverse
from django.utils import timezone
from openai.types.chat import ChatCompletionMessageParam

from accounts.models import User
from courses import selectors
from courses.models import Course, CourseVersion
from courses.rendering import render_partial, render_text
from courses.spec import CourseSpec, ExerciseSpec, StepSpec
from tutor import endorsements, guards, model_client, progress, prompting, retrieval, services
from tutor.learner import MASTERY_THRESHOLD
from tutor.models import (
    Conversation,
    ExerciseProgress,
    Message,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_MESSAGE_CHARS = 2000
GENERATION_OFF = (
    "*Generation is off right now (the course model is not answering), so here is what the "
    "course itself says.*"
)
INTERRUPTED = (
    "*The course model stopped in the middle of this reply, so it ends here. Your message is "
    "kept: ask again, and until the model is back I answer from the course material.*"
)
_turns: set[asyncio.Task[None]] = set()  # strong references: a turn outlives its socket
BOOKKEEPING_DELAY = 0.5  # seconds a turn's bookkeeping waits at most for the reply to start


def group_name(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


# ---------------------------------------------------------------------------------------------
# Reading the student's message


_ASK_SOLUTION = re.compile(
    r"\b(solution|answer|solve it|just tell me|give me the|what is the result|r[ée]ponse|"
    r"l[öo]sung|respuesta|soluci[óo]n)\b",
    re.IGNORECASE,
)
_ASK_HINT = re.compile(r"\b(hint|clue|help|stuck|no idea|indice|tipp|pista)\b", re.IGNORECASE)
_LANGUAGE_WORDS = {
    "fr": {"le", "la", "les", "est", "une", "je", "pas", "comment", "pourquoi", "que", "avec"},
    "de": {"der", "die", "das", "ist", "nicht", "ich", "wie", "warum", "und", "mit", "ein"},
    "es": {"el", "los", "las", "es", "una", "no", "cómo", "por", "qué", "con", "yo"},
    "pt": {"o", "os", "as", "é", "uma", "não", "como", "por", "que", "com", "eu"},
    "it": {"il", "lo", "gli", "è", "una", "non", "come", "perché", "che", "con", "io"},
    "nl": {"de", "het", "is", "een", "niet", "ik", "hoe", "waarom", "en", "met"},
    "en": {"the", "is", "a", "i", "not", "how", "why", "what", "and", "with", "do"},
}


def detect_language(text: str, preferred: str = "") -> str:
    """The student's profile language if set; else the language whose common words the message
    uses most (English when unsure)."""
    if preferred:
        return preferred.split("-")[0].lower()
    words = re.findall(r"[\wéèêàâçöüäßñóíúãõ']+", text.lower())
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in _LANGUAGE_WORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] >= 2 and scores[best] > scores["en"] else "en"


# ---------------------------------------------------------------------------------------------
# Planning a turn (database work, run in a thread)


@dataclass
class Plan:
    conversation: Conversation  # with its user and course
    reply_id: int
    student_text: str
    context: prompting.TAContext
    exercise: ExerciseSpec | None
    authored_reply: str = ""  # set when the course itself answers (the next authored hint)
    fallback: str = ""  # what to say from authored material if the model is down
    limit_message: str = ""
    citations: list[dict[str, str]] = field(default_factory=list)
    student_message_id: int = 0
    unanswered: bool = False  # retrieval found nothing about the question (nor an endorsed answer)
    # The solution guard for the exercise, read once: the streamed reply is checked at each
    # flush. None without an exercise or once its solution is unlocked (nothing is withheld).
    guard: guards.ReplyGuard | None = field(default=None, repr=False)


def limit_reached(user_id: int) -> str:
    """A friendly message when the student is over a limit, else ''."""
    with connection.cursor() as cursor:
        cursor.execute(
            _LIMITS_SQL.format(user="%(user)s"), {"user": user_id, "now": timezone.now()}
        )
        recent, used = cursor.fetchone()
    return _limit_message(recent, int(used))


def _limit_message(recent: int, used: int) -> str:
    """The limits' message for a student who sent `recent` messages in the last minute and had
    `used` tokens of replies in the last day ('' under both limits)."""
    if recent > settings.EUREKA_TA_MESSAGES_PER_MINUTE:
        return (
            "You are sending messages faster than I can answer them well. Take a breath, "
            "try the exercise, and write again in a minute."
        )
    if used >= settings.EUREKA_TA_TOKENS_PER_DAY:
        return (
            "We have talked a lot today, and my budget for today is spent. The hints and worked "
            "solutions still work, and a human TA can help: ask for one."
        )
    return ""


def _current_exercise(
    rows: list[ExerciseProgress], step: StepSpec
) -> tuple[ExerciseSpec | None, ExerciseProgress | None]:
    """The exercise the student is on: the unsolved one they touched last, else the first
    unsolved one. `rows`: the student's progress rows of the course."""
    on_step = {r.exercise_slug: r for r in rows if r.step_slug == step.slug}
    unsolved = [e for e in step.exercises if not (on_step.get(e.slug) and on_step[e.slug].solved)]
    if not unsolved:
        return None, None
    touched = [e for e in unsolved if e.slug in on_step and on_step[e.slug].attempts]
    touched.sort(key=lambda e: on_step[e.slug].updated_at, reverse=True)
    exercise = (touched or unsolved)[0]
    return exercise, on_step.get(exercise.slug)


@dataclass(frozen=True)
class _StudentState:
    progress: list[ExerciseProgress]  # the student's rows of the course (not saved from here)
    mastery: dict[str, float]  # concept slug -> mastery, over the course
    history: list[tuple[str, str]]  # (role, text) of the conversation's last complete messages
    attempts: list[tuple[str, str, bool]]  # (exercise slug, answer, correct) on the step, in order


@dataclass(frozen=True)
class _TurnState:
    """What a turn reads before its retrieval, in one statement (a student waits on each round
    trip): the student's message with its conversation, user and course, the course's latest
    version, the student's state, the limits' verdict, and whether the version's passages are
    indexed and embedded."""

    student: Message
    version: CourseVersion | None
    state: _StudentState
    limit_message: str
    indexed: bool
    embedded: bool


# Both limits in one pass over the student's last day of messages; `{user}` is the user's id.
_LIMITS_SQL = """
SELECT count(*) FILTER (WHERE mm.role = 'student'
                          AND mm.created_at >= %(now)s - interval '1 minute') AS recent,
       coalesce(sum(mm.completion_tokens) FILTER (WHERE mm.role = 'assistant'), 0) AS used
FROM tutor_message mm JOIN tutor_conversation cc ON cc.id = mm.conversation_id
WHERE cc.user_id = {user} AND mm.created_at >= %(now)s - interval '1 day'
"""
# The student's progress and mastery over the course, the conversation's last 8 complete
# messages before this one, and the answers given on the conversation's step.
_TURN_SQL = """
SELECT {columns}, v.id, v.number,
  (SELECT coalesce(json_agg(json_build_array(p.step_slug, p.exercise_slug, p.solved, p.attempts,
                                             p.hints_revealed, extract(epoch FROM p.updated_at))),
                   '[]')
     FROM tutor_exerciseprogress p WHERE p.user_id = c.user_id AND p.course_id = c.course_id),
  (SELECT coalesce(json_object_agg(k.concept_slug, k.p_known), '{{}}')
     FROM tutor_conceptmastery k WHERE k.user_id = c.user_id AND k.course_id = c.course_id),
  (SELECT coalesce(json_agg(json_build_array(role, content) ORDER BY created_at, id), '[]')
     FROM (SELECT h.role, h.content, h.created_at, h.id FROM tutor_message h
           WHERE h.conversation_id = c.id AND h.complete AND h.id <> m.id
           ORDER BY h.created_at DESC, h.id DESC LIMIT 8) AS recent),
  (SELECT coalesce(json_agg(json_build_array(a.exercise_slug, a.answer, a.correct)
                            ORDER BY a.created_at, a.id), '[]')
     FROM tutor_attempt a JOIN courses_courseversion av ON av.id = a.course_version_id
     WHERE a.user_id = c.user_id AND av.course_id = c.course_id AND a.step_slug = c.step_slug),
  lim.recent, lim.used,
  EXISTS (SELECT 1 FROM tutor_coursechunk WHERE course_version_id = v.id),
  EXISTS (SELECT 1 FROM tutor_coursechunk
          WHERE course_version_id = v.id AND embedding IS NOT NULL)
FROM tutor_message m
JOIN tutor_conversation c ON c.id = m.conversation_id
JOIN courses_course co ON co.id = c.course_id
JOIN {users} u ON u.id = c.user_id
LEFT JOIN LATERAL (SELECT id, number FROM courses_courseversion
                   WHERE course_id = c.course_id ORDER BY number DESC LIMIT 1) v ON true
CROSS JOIN LATERAL ({limits}) lim
WHERE m.id = %(message)s AND m.conversation_id = %(conversation)s
"""


def _plain_fields(model: type[Model]) -> list[Field[Any, Any]]:
    """The model's columns that arrive from the database as stored (no converter): a raw row of
    them makes an instance, whose other fields stay deferred (loaded if ever read)."""
    return [f for f in model._meta.concrete_fields if not f.get_db_converters(connection)]


@cache
def _turn_sql() -> tuple[str, list[list[str]]]:
    """The statement, and the field names of each model's columns at its head."""
    names: list[list[str]] = []
    columns = []
    models: list[type[Model]] = [Message, Conversation, Course, User]
    for model, alias in zip(models, ("m", "c", "co", "u"), strict=True):
        fields = _plain_fields(model)
        names.append([f.attname for f in fields])
        columns += [f"{alias}.{connection.ops.quote_name(str(f.column))}" for f in fields]
    sql = _TURN_SQL.format(
        columns=", ".join(columns),
        users=connection.ops.quote_name(User._meta.db_table),
        limits=_LIMITS_SQL.format(user="c.user_id"),
    )
    return sql, names


M = TypeVar("M", bound=Model)


def _from_row(model: type[M], names: list[str], row: tuple[Any, ...], at: int) -> M:
    return model.from_db(connection.alias, names, row[at : at + len(names)])


def _read_turn(conversation_id: int, message_id: int) -> _TurnState:
    sql, names = _turn_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {"message": message_id, "conversation": conversation_id, "now": timezone.now()},
        )
        row = cursor.fetchone()
    if row is None:
        raise Message.DoesNotExist(f"no message {message_id} in conversation {conversation_id}")
    lengths = [len(n) for n in names]
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    student = _from_row(Message, names[0], row, starts[0])
    conversation = _from_row(Conversation, names[1], row, starts[1])
    course = _from_row(Course, names[2], row, starts[2])
    user = _from_row(User, names[3], row, starts[3])
    conversation.course, conversation.user = course, user
    student.conversation = conversation
    at = sum(lengths)
    (version_id, number, progress_rows, mastery, history, attempts, recent, used, indexed,
     embedded) = row[at:]  # fmt: skip
    progress_rows, mastery, history, attempts = (
        json.loads(value) if isinstance(value, str) else value
        for value in (progress_rows, mastery, history, attempts)
    )
    version = None
    if version_id is not None:
        version = CourseVersion.from_db(
            connection.alias, ["id", "course_id", "number"], [version_id, course.pk, number]
        )
        version.course = course
    state = _StudentState(
        progress=[
            ExerciseProgress(
                user_id=conversation.user_id,
                course_id=conversation.course_id,
                step_slug=step,
                exercise_slug=exercise,
                solved=solved,
                attempts=tries,
                hints_revealed=hints,
                updated_at=datetime.fromtimestamp(float(updated), tz=UTC),
            )
            for step, exercise, solved, tries, hints, updated in progress_rows
        ],
        mastery={slug: float(p_known) for slug, p_known in mastery.items()},
        history=[(role, content) for role, content in history],
        attempts=[(exercise, answer, bool(correct)) for exercise, answer, correct in attempts],
    )
    return _TurnState(
        student, version, state, _limit_message(recent, int(used)), bool(indexed), bool(embedded)
    )


def plan_turn(
    conversation_id: int,
    student_message_id: int,
    reply_id: int,
    embedding: Future[list[float]] | None = None,
    reads: _TurnState | None = None,
) -> Plan:
    """Everything the turn's prompt needs, read from the database. `embedding` is the query's
    embedding already under way (the socket starts it as the message arrives); without it the
    embedding starts here. Either way the database work below overlaps it, and the one query
    that needs it (the vector ranking) comes last: the embedding, a call to the model worker,
    is the longest single wait of a turn's preparation. `reads`: the turn's first reads, made
    with the post."""
    turn = reads or _read_turn(conversation_id, student_message_id)
    student, version, state = turn.student, turn.version, turn.state
    if embedding is None:
        embedding = retrieval.prefetch_query_embedding(student.content)
    conversation = student.conversation
    user, course = conversation.user, conversation.course
    spec = selectors.version_spec(version) if version else CourseSpec(course.slug, course.title)
    step = spec.step(conversation.step_slug) if conversation.step_slug else None
    exercise, row = _current_exercise(state.progress, step) if step else (None, None)
    names = {c.slug: c.name for c in spec.concepts}
    mastery = {
        names.get(slug, slug): p_known
        for slug, p_known in state.mastery.items()
        if step is None or slug in step.teaches + step.requires
    }
    attempts = [
        prompting.Attempt(answer, correct)
        for exercise_slug, answer, correct in state.attempts
        if exercise is not None and exercise_slug == exercise.slug
    ]
    hints = row.hints_revealed if row else 0
    unlocked = services.solution_available(row, exercise) if exercise else False
    allowed = progress.open_steps(
        spec,
        solved={(r.step_slug, r.exercise_slug) for r in state.progress if r.solved},
        mastered={s for s, p_known in state.mastery.items() if p_known >= MASTERY_THRESHOLD},
    )
    # Read before the search, which may wait for the query's embedding.
    guard = guards.ReplyGuard(exercise) if exercise is not None and not unlocked else None
    passages, citations, relevant = _passages(
        course, version, allowed, student.content, embedding, turn.indexed, turn.embedded
    )
    context = prompting.TAContext(
        course_title=course.title,
        step=step,
        mastery=mastery,
        exercise=exercise,
        attempts=attempts,
        hints_revealed=hints,
        solution_unlocked=unlocked,
        passages=passages,
        language=detect_language(student.content, user.preferred_language),
        history=state.history,
    )
    plan = Plan(
        conversation,
        reply_id,
        student.content,
        context,
        exercise,
        citations=citations,
        limit_message=turn.limit_message,
        student_message_id=student.pk,
        unanswered=not relevant,
        guard=guard,
    )
    wants_help = _ASK_HINT.search(student.content) or _ASK_SOLUTION.search(student.content)
    if exercise is not None and wants_help and hints < len(exercise.hints) and not unlocked:
        # Principle 3 and the TA policy: the next authored hint comes before any generated one.
        services.hint_reveal(user=user, course=course, step=step, exercise=exercise)  # type: ignore[arg-type]
        plan.authored_reply = (
            f"Here is the next hint ({hints + 1} of {len(exercise.hints)}):\n\n"
            f"{exercise.hints[hints]}\n\nTry it, then tell me what you get."
        )
    plan.fallback = _authored_fallback(exercise, hints, unlocked, passages, citations)
    return plan


def after_planning(plan: Plan) -> None:
    """The turn's bookkeeping that its reply does not depend on, run while the model writes:
    the escalation rules on the student's words (and on a question the course has nothing
    about), and the student's study time on the step."""
    from tutor import escalations  # imported here: escalations builds on this module

    if escalations.reasons_in_words(plan.student_text):  # most messages have none
        escalations.safely(escalations.check_student_words, message_id=plan.student_message_id)
    if plan.unanswered and not plan.authored_reply:
        escalations.safely(escalations.check_unanswered, message_id=plan.student_message_id)
    conversation = plan.conversation
    if conversation.step_slug:
        try:
            services.study_time_record(
                user=conversation.user,
                course=conversation.course,
                step_slug=conversation.step_slug,
            )
        except Exception:  # bookkeeping must not cost the student their answer
            log.exception("recording study time failed")


def _passages(
    course: Any,
    version: Any,
    allowed: set[str],
    query: str,
    embedding: Future[list[float]] | None,
    indexed: bool,
    embedded: bool,
) -> tuple[list[prompting.Passage], list[dict[str, str]], bool]:
    """The passages for the prompt (endorsed answers first), their citations, and whether any
    of them is about the query (retrieval that failed counts as relevant: unknown). `indexed`,
    `embedded`: whether the version has passages, and embedded ones."""
    if version is None:
        return [], [], True
    try:
        endorsed = endorsements.endorsed_for(course=course, allowed_steps=allowed, query=query)
        # Last: the search waits for the query's embedding.
        found = retrieval.search(
            version=version,
            allowed_steps=allowed,
            query=query,
            k=3,
            embedding=embedding,
            embedded=embedded,
        )
    except Exception:  # retrieval failing must not cost the student their answer
        log.exception("retrieval failed")
        return [], [], True
    # A version not indexed yet tells nothing about the question: only an index that has no
    # relevant passage does.
    relevant = bool(endorsed) or any(p.relevant for p in found) or not indexed
    passages = [
        prompting.Passage(f"{p.step_title} § {p.section}".strip(" §"), p.text, p.url) for p in found
    ]
    # Answers TAs endorsed come first: the course team's own words beat any passage.
    passages = [
        prompting.Passage(
            "Endorsed answer",
            f"Q: {e.question}\nA: {e.answer}",
            reverse("step_page", kwargs={"slug": course.slug, "step": e.step_slug})
            if e.step_slug
            else course.get_absolute_url(),
        )
        for e in endorsed
    ] + passages
    citations = [{"title": p.title, "url": p.url} for p in passages if p.url]
    return passages, citations, relevant


def _authored_fallback(
    exercise: ExerciseSpec | None,
    hints: int,
    unlocked: bool,
    passages: list[prompting.Passage],
    citations: list[dict[str, str]],
) -> str:
    parts = [GENERATION_OFF]
    if exercise is not None and hints < len(exercise.hints):
        parts.append(f"A hint for this exercise: {exercise.hints[hints]}")
    elif exercise is not None and unlocked:
        parts.append("The worked solution is open for you below the exercise.")
    for passage in passages[:2]:
        link = f" ([{passage.title}]({passage.url}))" if passage.url else ""
        parts.append(f"> {passage.text[:400]}{link}")
    if len(parts) == 1:
        parts.append(
            "Look back at this step's explanation, try the exercise, and ask again later, "
            "or ask for a human TA."
        )
    return "\n\n".join(parts)


def save_reply(reply_id: int, text: str, *, complete: bool, **fields: Any) -> None:
    updates: dict[str, Any] = {"content": text, "complete": complete, **fields}
    Message.objects.filter(pk=reply_id).update(**updates)


def reply_event(message: Message | None = None, **values: Any) -> dict[str, Any]:
    """The event every open tab of the conversation receives for a message."""
    if message is not None:
        values = {
            "id": message.pk,
            "role": message.role,
            "text": message.content,
            "complete": message.complete,
            "flags": message.flags,
            "seq": values.get("seq", 0),
        }
    # A reply still being written is sent again at every flush: its finished blocks are
    # rendered once (`render_partial`); the complete reply is rendered whole.
    render = render_text if values["complete"] else render_partial
    html = render(values["text"]) if values["text"] else ""
    return {
        "type": "ta.event",
        "message": {
            "id": values["id"],
            "role": values["role"],
            "html": html,
            "complete": values["complete"],
            "flags": values.get("flags", {}),
            "seq": values.get("seq", 0),
        },
    }


# ---------------------------------------------------------------------------------------------
# Running a turn


@dataclass(frozen=True)
class Turn:
    """A turn running on the event loop: `replied` is set once its reply is complete (stored
    and sent); the task goes on with the checks that follow a reply."""

    task: asyncio.Task[None]
    replied: asyncio.Event

    @property
    def answering(self) -> bool:
        return not self.replied.is_set() and not self.task.done()


@dataclass(frozen=True)
class Ask:
    """A stored student message for the TA to answer, and what its turn may start from."""

    conversation_id: int
    student_message_id: int
    reply_id: int  # the TA's empty reply, stored with the message
    embedding: Future[list[float]] | None = None  # the query's embedding, already under way
    asker: Asker | None = None  # the socket that asked: it gets each event before the layer
    plan: Plan | Exception | None = None  # the turn's plan, made with the post (`post_and_plan`)
    plan_ms: int = 0
    announced: asyncio.Event | None = None  # the turn sends no event before this is set


def start_turn(ask: Ask) -> Turn:
    """Start answering the student's message on the running loop (see `run_turn`)."""
    replied = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_turn(ask, replied))
    _turns.add(task)
    task.add_done_callback(_turns.discard)
    return Turn(task, replied)


class Asker(Protocol):
    """The socket that asked: it is handed each event of its turn at once, and drops the
    channel layer's copy of an event it was handed (`sent_by`)."""

    channel_name: str

    async def deliver(self, event: dict[str, Any]) -> None: ...


def sent_by(event: dict[str, Any], asker: Asker) -> dict[str, Any]:
    """The event for the channel layer, marked as handed to `asker` already."""
    return {**event, "sent_by": asker.channel_name}


class _Broadcast:
    """Events to the conversation's open tabs, best effort. The reply is stored whatever
    happens and a tab gets it from the history when it (re)connects, so a channel layer that
    fails (Redis down) must not end the turn: that would leave the reply unfinished and the
    conversation waiting for it for good. After one failure the turn stops trying.

    The socket that asked gets each event straight from the turn, without the round trip
    through Redis; the other tabs through the layer. Once a direct delivery fails, the asking
    socket gets the layer's copies again."""

    def __init__(
        self, group: str, asker: Asker | None = None, after: asyncio.Event | None = None
    ) -> None:
        self.group = group
        self.layer = get_channel_layer()
        self.asker = asker
        self.after = after  # no event goes out before this is set

    async def __call__(self, event: dict[str, Any]) -> None:
        if self.after is not None:
            await self.after.wait()
            self.after = None
        if self.asker is not None:
            try:
                await self.asker.deliver(event)
            except Exception as error:
                log.info("the asking socket of %s takes no more events: %r", self.group, error)
                self.asker = None
            else:
                event = sent_by(event, self.asker)
        if self.layer is None:
            return
        try:
            await self.layer.group_send(self.group, event)
        except Exception as error:
            log.warning("TA events to %s are off for this turn: %r", self.group, error)
            self.layer = None


async def run_turn(ask: Ask, replied: asyncio.Event | None = None) -> None:
    """Answer the student's message (see `_answer`), then run the checks that look at the
    conversation after a reply. `replied` is set as soon as the reply is complete."""
    try:
        reply = await _answer(ask)
    finally:
        if replied is not None:
            replied.set()
    from tutor import escalations  # imported here: escalations builds on this module

    if reply is not None and escalations.may_open_after_turn(*reply):
        await in_db_thread(escalations.safely)(
            escalations.check_after_turn, conversation_id=ask.conversation_id
        )


async def _answer(ask: Ask) -> tuple[str, dict[str, Any], str] | None:
    """Plan the turn, stream the model's reply to the conversation's tabs and store it: the
    reply is complete when this returns. The reply's text, flags and model, when the model was
    asked."""
    reply_id = ask.reply_id
    broadcast = _Broadcast(group_name(ask.conversation_id), ask.asker, ask.announced)
    started = time.perf_counter()
    try:
        if isinstance(ask.plan, Exception):
            raise ask.plan
        plan = ask.plan or await in_db_thread(plan_turn)(
            ask.conversation_id, ask.student_message_id, reply_id, ask.embedding
        )
    except Exception:
        # Whatever went wrong, the student gets a reply and the conversation is not left waiting.
        log.exception("planning a TA turn failed")
        text = "Something went wrong on our side while preparing an answer. Please ask again."
        error = {"error": True}
        await in_db_thread(save_reply)(reply_id, text, complete=True, flags=error)
        await broadcast(
            reply_event(id=reply_id, role="assistant", text=text, complete=True, seq=1, flags=error)
        )
        return None
    planned_ms = ask.plan_ms if ask.plan else int((time.perf_counter() - started) * 1000)
    # The bookkeeping starts once the first words are out (until then the turn has the machine
    # to itself), or after BOOKKEEPING_DELAY if the model is slow to start (a case for a human
    # TA must not wait on it), and is done by the time the reply is: whoever sees the reply
    # complete sees its effects too.
    bookkeeping: list[asyncio.Future[None]] = []

    def start_bookkeeping() -> asyncio.Future[None]:
        if not bookkeeping:
            bookkeeping.append(asyncio.ensure_future(in_db_thread(after_planning)(plan)))
        return bookkeeping[0]

    asyncio.get_running_loop().call_later(BOOKKEEPING_DELAY, start_bookkeeping)

    async def send(text: str, *, complete: bool, seq: int, flags: dict[str, Any]) -> None:
        await broadcast(
            reply_event(
                id=plan.reply_id,
                role="assistant",
                text=text,
                complete=complete,
                seq=seq,
                flags=flags,
            )
        )

    flags: dict[str, Any] = {
        "language": plan.context.language,
        "citations": plan.citations,
        "plan_ms": planned_ms,
    }
    if plan.limit_message or plan.authored_reply:
        text = plan.limit_message or plan.authored_reply
        flags["source"] = "limit" if plan.limit_message else "authored_hint"
        await start_bookkeeping()
        await in_db_thread(save_reply)(plan.reply_id, text, complete=True, flags=flags)
        await send(text, complete=True, seq=1, flags=flags)
        return None

    text, seq, usage, first_token_ms = "", 0, None, 0
    model_name = ""
    broken = False  # the model failed after it had begun the reply
    try:
        client = model_client.shared_async_client()
        model_name = await _chat_model(client)
        flags["request_ms"] = int((time.perf_counter() - started) * 1000)
        messages = prompting.build_messages(
            plan.context, plan.student_text, budget=settings.EUREKA_TA_PROMPT_CHARS
        )
        stream = await client.chat.completions.create(
            model=model_name,
            messages=cast("list[ChatCompletionMessageParam]", messages),
            stream=True,
            max_tokens=settings.EUREKA_TA_MAX_TOKENS,
            temperature=0.7,
            stream_options={"include_usage": True},
        )
        last_flush, pending = 0.0, 0
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if not delta:
                continue
            if not text:
                first_token_ms = int((time.perf_counter() - started) * 1000)
            text += _printable(delta)
            pending += 1
            now = time.perf_counter()
            # The first token goes out at once; then small batches, so the channel layer (which
            # drops messages past its capacity) is never flooded.
            if seq == 0 or now - last_flush >= settings.EUREKA_TA_FLUSH_SECONDS:
                if _tripped(plan, text):
                    text = _replace(plan, flags)
                    break
                seq += 1
                await send(text, complete=False, seq=seq, flags=flags)
                start_bookkeeping()
                last_flush, pending = now, 0
                if seq % 10 == 0:
                    await in_db_thread(save_reply)(plan.reply_id, text, complete=False)
    except (TimeoutError, openai.OpenAIError, model_client.ModelUnavailable) as error:
        log.warning("the chat model failed: %s", error)
        broken = True
    except Exception:
        # Any other failure still ends the turn with a reply, never a conversation left waiting.
        log.exception("a TA turn failed")
        broken = True
    if not flags.get("guard_tripped"):  # a tripped reply was already replaced mid-stream
        if not text.strip():
            # Nothing generated: the course itself answers (authored text needs no guard).
            text = plan.fallback
            flags["generation_off"] = True
        elif _tripped(plan, text):
            text = _replace(plan, flags)
        elif broken:
            # The worker died (or the stream broke) mid-reply: keep what it wrote, and say so.
            text = _cut_short(text)
            flags["interrupted"] = True
    latency_ms = int((time.perf_counter() - started) * 1000)
    await start_bookkeeping()
    await in_db_thread(save_reply)(
        plan.reply_id,
        text,
        complete=True,
        flags=flags,
        model=model_name,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        latency_ms=latency_ms,
        first_token_ms=first_token_ms,
    )
    await send(text, complete=True, seq=seq + 1, flags=flags)
    log.info(
        "turn %s: planned in %s ms, model asked at %s ms, first token at %s ms, done in %s ms",
        reply_id, flags.get("plan_ms"), flags.get("request_ms"), first_token_ms, latency_ms,
    )  # fmt: skip
    return text, flags, model_name


def _cut_short(text: str) -> str:
    """A reply the model stopped writing, with the notice after it (outside any code block the
    reply left open, so the notice reads as text)."""
    text = text.rstrip()
    if text.count("```") % 2:
        text += "\n```"
    return f"{text}\n\n{INTERRUPTED}"


_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


def _printable(text: str) -> str:
    """Model output without control characters (NUL above all, which PostgreSQL text refuses):
    a model may emit any byte, and a stored reply must never fail to save."""
    return text.translate(_CONTROL)


def in_db_thread(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run database work in the thread pool, not the one thread Django's async adapters share
    by default (`database_sync_to_async`), so that many students' posts and turns are handled
    side by side instead of queueing for that thread. Each call gives its connection back
    when done: pool threads outlive requests, and nothing else would."""

    def work(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(work, thread_sensitive=False)


def _tripped(plan: Plan, text: str) -> bool:
    if plan.guard is None:  # no exercise, or its solution is unlocked: nothing is withheld
        return False
    verdict = plan.guard.check(text, solution_unlocked=False)
    if verdict.tripped:
        log.warning("guard tripped on conversation %s: %s", plan.conversation.pk, verdict.reasons)
    return verdict.tripped


def _replace(plan: Plan, flags: dict[str, Any]) -> str:
    flags["guard_tripped"] = True
    if plan.exercise is None:  # _tripped only trips with an exercise
        return plan.fallback
    return guards.safe_replacement(plan.exercise, plan.context.hints_revealed)


_model_names: dict[str, str] = {}


async def _chat_model(client: openai.AsyncOpenAI) -> str:
    """The configured chat model, else the first one the server lists (looked up once)."""
    if settings.EUREKA_CHAT_MODEL:
        return str(settings.EUREKA_CHAT_MODEL)
    key = str(client.base_url)
    if key not in _model_names:
        page = await client.models.list()
        chat = [m.id for m in page.data if m.id != settings.EUREKA_EMBEDDING_MODEL]
        if not chat:
            raise model_client.ModelUnavailable("the model server lists no chat model")
        _model_names[key] = chat[0]
    return _model_names[key]


# ---------------------------------------------------------------------------------------------
# Storing the student's side


@dataclass(frozen=True)
class Posted:
    message: Message
    reply: Message | None  # the TA's reply to come; None for a resend or while one is pending
    created: bool  # False: a resend of a message already stored (same client id)
    reads: _TurnState | None = None  # the turn's first reads, when asked for with the post
    plan: Plan | Exception | None = None  # the turn's plan (or why it failed), made with the post
    plan_ms: int = 0  # the time the plan took


def post_and_plan(
    conversation_id: int,
    user_id: int,
    text: str,
    client_id: str,
    embedding: Future[list[float]] | None = None,
) -> Posted:
    """`post_student_message`, then the plan of the TA's turn (when it is to reply) on the same
    thread: the socket's turn then asks the model as soon as it starts. Under load each hand-over
    between the event loop and a thread waits behind every other student's work, so one such
    trip instead of two is time off every reply's first token. A plan that fails is handed to
    the turn, which tells the student (the message is stored either way)."""
    posted = post_student_message(
        conversation_id=conversation_id,
        user_id=user_id,
        text=text,
        client_id=client_id,
        read_turn=True,
    )
    if posted.reply is None:
        return posted
    started = time.perf_counter()
    plan: Plan | Exception
    try:
        plan = plan_turn(
            conversation_id, posted.message.pk, posted.reply.pk, embedding, posted.reads
        )
    except Exception as error:
        plan = error
    return replace(posted, plan=plan, plan_ms=int((time.perf_counter() - started) * 1000))


# Run under the conversation's row lock (the UPDATE before it), so in a snapshot that sees every
# message committed before the lock was ours: the resend with this client id, if any, and the
# reply still pending, if any; else both new messages, inserted. `found`: 1 for a resend, 2 for a
# pending reply, 0 for the rows just inserted. (Only the flags have a converter: parsed here.)
_POST_SQL = """
WITH found AS (
    SELECT {columns}, m.flags, CASE WHEN m.client_id = %(client_id)s AND %(client_id)s <> ''
                           THEN 1 ELSE 2 END AS found
    FROM tutor_message m
    WHERE m.conversation_id = %(conversation)s
      AND ((m.role = 'assistant' AND NOT m.complete)
           OR (m.client_id = %(client_id)s AND %(client_id)s <> ''))
), inserted AS (
    INSERT INTO tutor_message (conversation_id, role, content, author_id, client_id, complete,
                               model, prompt_tokens, completion_tokens, latency_ms,
                               first_token_ms, flags, created_at)
    SELECT %(conversation)s, v.role, v.content, v.author_id, v.client_id, v.complete,
           '', 0, 0, 0, 0, '{{}}'::jsonb, %(now)s
    FROM (VALUES (1, 'student', %(text)s, %(user)s::bigint, %(client_id)s, true),
                 (2, 'assistant', '', NULL::bigint, '', false))
         AS v(n, role, content, author_id, client_id, complete)
    WHERE NOT EXISTS (SELECT 1 FROM found)
    ORDER BY v.n
    RETURNING {returning}, flags
)
SELECT *, 0 AS found FROM inserted
UNION ALL SELECT * FROM found
ORDER BY found, id
"""


@cache
def _post_sql() -> tuple[str, list[str]]:
    """The statement, and the field names of the message columns it returns."""
    fields = _plain_fields(Message)
    quoted = [connection.ops.quote_name(str(f.column)) for f in fields]
    sql = _POST_SQL.format(columns=", ".join(f"m.{q}" for q in quoted), returning=", ".join(quoted))
    return sql, [f.attname for f in fields]


@transaction.atomic
def post_student_message(
    *, conversation_id: int, user_id: int, text: str, client_id: str, read_turn: bool = False
) -> Posted:
    """Store the student's message and the (empty) TA reply that will answer it, in one
    transaction under the conversation's row lock: two tabs cannot start two turns at once.
    Raises TurnInProgress while a reply is still being written, and Conversation.DoesNotExist
    for a conversation that is not the user's.

    Two statements, as a student waits on them: the UPDATE that takes the lock (and marks the
    conversation active), then one that finds a resend or a reply still pending or else
    inserts both messages. `read_turn`: also read what the turn starts from (`_read_turn`) in
    the same transaction, sparing the turn a trip to the database pool."""
    now = timezone.now()
    locked = Conversation.objects.filter(pk=conversation_id, user_id=user_id).update(updated_at=now)
    if not locked:
        raise Conversation.DoesNotExist(f"no conversation {conversation_id} of user {user_id}")
    sql, names = _post_sql()
    params: dict[str, Any] = {
        "conversation": conversation_id,
        "user": user_id,
        "text": text,
        "client_id": client_id[:64],
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    messages = [_from_row(Message, names, row, 0) for row in rows]
    found = [row[-1] for row in rows]
    for message, row in zip(messages, rows, strict=True):
        flags = row[-2]
        message.flags = json.loads(flags) if isinstance(flags, str) else flags
    if 1 in found:
        return Posted(messages[found.index(1)], None, False)
    if 2 in found:
        raise TurnInProgress("The TA is still answering your last message.")
    message, reply = messages
    reads = _read_turn(conversation_id, message.pk) if read_turn else None
    return Posted(message, reply, True, reads)


class TurnInProgress(Exception):
    pass


def turn_in_progress(conversation: Conversation) -> bool:
    return conversation.messages.filter(role=Message.Role.ASSISTANT, complete=False).exists()


def conversation_for(user: Any, course: Any, step_slug: str) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(
        user=user, course=course, step_slug=step_slug
    )
    return conversation


def history_events(conversation: Conversation, limit: int = 50) -> list[dict[str, Any]]:
    messages = list(conversation.messages.order_by("-created_at", "-id")[:limit])[::-1]
    return [reply_event(m)["message"] for m in messages]
