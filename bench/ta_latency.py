"""How much the TA stack adds to the model's time to first token.

Starts a real model worker on a fixture checkpoint and the Eureka app (uvicorn, embedded
PostgreSQL, the sample course), then for 1 and 50 concurrent students measures:
  - at the worker: time to first token of the TA's own request (the messages the TA builds for
    the bench's question, with its limits), sent straight to the worker with the openai client
    (the baseline, in the same run);
  - at the WebSocket: from sending a message to the TA to the first streamed token arriving.
Each student sends --rounds messages, each once the last reply is complete, in two loads:
  - back to back: the next message as soon as the last reply is complete (with 50 students,
    several times the messages a minute the TA lets a student send);
  - at the limit (counts above one): one message every 60/N seconds, N being the TA's own limit
    of messages a minute per student (EUREKA_TA_MESSAGES_PER_MINUTE, as the app would run
    without the bench's override), each student starting at a random point of the first
    interval (a fixed seed), or as soon as the last reply is complete if that is later.
The worker baseline has as many clients, each sending as many requests on the same schedule. A
percentile rests on students x rounds samples. Prints p50 and p95 of both and the difference
(the stack's overhead). Target: at most 30 ms at p50. First it prints the query's embedding
alone (the TA's request for it, one at a time, nothing else running): every turn waits for one
before it asks for the reply, so that much of the overhead is the worker's work, not the app's.

    .venv/bin/python bench/ta_latency.py [--students 1 50] [--rounds 10]
        [--load both|limit|back-to-back]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import APP_ENV, in_django, make_students, percentile, running_stack

QUESTION = "Why do we count characters first?"
TARGET_MS = 30.0  # the stack's overhead on the time to first token, at p50
PLAN_MS: list[float] = []  # the TA's own report of the time it spent preparing each turn
SEED = 20261129


def due_times(students: int, rounds: int, interval: float) -> list[list[float]]:
    """When each student's messages are due, in seconds from the start: all at once and then
    back to back (0) when `interval` is 0; otherwise the first at a random point of the first
    interval and one interval apart after it. The same for the worker and the socket."""
    rng = random.Random(SEED)
    starts = [rng.uniform(0, interval) for _ in range(students)]
    return [[start + n * interval for n in range(rounds)] for start in starts]


async def when_due(t0: float, due: float) -> None:
    await asyncio.sleep(max(0.0, t0 + due - time.perf_counter()))


def app_setting(data_dir: str, name: str) -> str:
    """A setting as the app runs by default, without the bench's stack's overrides (which lift
    the TA's limit of messages a minute so that the back-to-back load is not refused)."""
    return in_django(data_dir, f"from django.conf import settings; print(settings.{name})")


def ta_messages(data_dir: str, worker_url: str) -> list[dict[str, str]]:
    """The messages the TA sends the model for QUESTION on the bench's step: a turn planned for
    a student of its own (in a child process, so this one never loads Django), its prompt built
    as the TA builds it."""
    code = f"""
from django.conf import settings
from accounts.models import User
from courses.models import Course
from tutor import prompting, ta
user = User.objects.get(username="bench-prompt-0")
course = Course.objects.get(slug="sample-ramp")
conversation = ta.conversation_for(user, course, "counting-characters")
posted = ta.post_student_message(
    conversation_id=conversation.pk, user_id=user.pk, text={QUESTION!r}, client_id=""
)
plan = ta.plan_turn(conversation.pk, posted.message.pk, posted.reply.pk)
ta.save_reply(posted.reply.pk, "", complete=True)
print(json.dumps(prompting.build_messages(
    plan.context, plan.student_text, budget=settings.EUREKA_TA_PROMPT_CHARS
)))
"""
    env = {**APP_ENV, "EUREKA_MODEL_BASE_URL": worker_url}
    return list(json.loads(in_django(data_dir, code, env)))


async def worker_ttft(
    base_url: str,
    messages: list[dict[str, str]],
    students: int,
    rounds: int = 1,
    interval: float = 0.0,
) -> list[float]:
    """Time to first token of the TA's own request (same messages, same limits), sent straight
    to the worker by `students` clients, each `rounds` times on `due_times`' schedule."""
    import openai
    from openai.types.chat import ChatCompletionMessageParam

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=120)
    models = await client.models.list()
    model = next(m.id for m in models.data if "MiniLM" not in m.id)

    async def one() -> float:
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model=model,
            messages=cast("list[ChatCompletionMessageParam]", messages),
            stream=True,
            max_tokens=int(APP_ENV["EUREKA_TA_MAX_TOKENS"]),
            temperature=0.7,
        )
        first = None
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
        return first if first is not None else time.perf_counter() - started

    async def student(dues: list[float]) -> list[float]:
        # One request after another, as a student at the socket sends one message after
        # another: the worker sees the same pattern of arrivals from both.
        samples = []
        for due in dues:
            await when_due(t0, due)
            samples.append(await one())
        return samples

    samples: list[float] = []
    async with client:  # closed inside its event loop, which asyncio.run closes after
        schedule = due_times(students, rounds, interval)
        t0 = time.perf_counter()
        for ts in await asyncio.gather(*(student(dues) for dues in schedule)):
            samples += ts
    return samples


async def embedding_alone(base_url: str, model: str, count: int = 30) -> list[float]:
    """The query's embedding as the TA asks for it (the openai client, QUESTION alone), one
    request after another with nothing else running: the part of every turn's overhead that is
    the worker's work for the app before the chat request, not the app's own."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=120)
    samples = []
    async with client:
        for _ in range(count):
            started = time.perf_counter()
            await client.embeddings.create(model=model, input=[QUESTION])
            samples.append(time.perf_counter() - started)
    return samples


async def socket_ttft(
    port: int, cookies: list[str], rounds: int = 1, interval: float = 0.0
) -> list[float]:
    """Time to first token at the WebSocket, each student sending `rounds` messages on
    `due_times`' schedule."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    async def one(cookie: str, dues: list[float]) -> list[float]:
        url = f"ws://127.0.0.1:{port}/ws/ta/sample-ramp/counting-characters/"
        origin = Origin(f"http://127.0.0.1:{port}")
        samples = []
        async with connect(url, origin=origin, additional_headers={"Cookie": cookie}) as ws:
            json.loads(await ws.recv())  # history
            for n, due in enumerate(dues):
                await when_due(t0, due)
                samples.append(await turn(ws, f"{cookie[-12:]}-{n}"))
        return samples

    async def turn(ws: Any, client_id: str) -> float:
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "text": QUESTION, "client_id": client_id}))
        first = None
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if event.get("type") == "error":
                raise SystemExit(f"the TA refused a bench message: {event['message']}")
            message = event.get("message", {})
            if message.get("role") == "assistant" and message.get("html") and first is None:
                first = time.perf_counter() - started
            if message.get("role") == "assistant" and message.get("complete"):
                PLAN_MS.append(message.get("flags", {}).get("plan_ms", 0))
                return first if first is not None else time.perf_counter() - started

    schedule = due_times(len(cookies), rounds, interval)
    t0 = time.perf_counter()
    students = (one(c, dues) for c, dues in zip(cookies, schedule, strict=True))
    return [t for ts in await asyncio.gather(*students) for t in ts]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--rounds", type=int, default=10, help="messages per student")
    parser.add_argument(
        "--load",
        choices=["both", "limit", "back-to-back"],
        default="both",
        help="when the students send (see above); 'limit' applies to counts above one",
    )
    args = parser.parse_args()
    with running_stack(app_env={"EUREKA_LOG_LEVEL": "INFO"}) as stack:
        base_url = stack.worker_url
        make_students(stack, 1, "prompt")
        messages = ta_messages(stack.data_dir, base_url)
        limit = int(app_setting(stack.data_dir, "EUREKA_TA_MESSAGES_PER_MINUTE"))
        asyncio.run(worker_ttft(base_url, messages, 2))  # warm up
        asyncio.run(socket_ttft(stack.app_port, make_students(stack, 2, "warm")))
        PLAN_MS.clear()
        model = app_setting(stack.data_dir, "EUREKA_EMBEDDING_MODEL")
        embedding = asyncio.run(embedding_alone(base_url, model))
        print(
            f"the query's embedding alone at the worker (one at a time, nothing else running): "
            f"p50 {statistics.median(embedding) * 1000:.1f}ms; every turn waits for one"
        )
        loads = []
        for count in args.students:
            if args.load != "limit" or count == 1:
                loads.append((count, "back to back", 0.0))
            if args.load != "back-to-back" and count > 1:
                loads.append((count, f"at the limit ({limit}/min)", 60 / limit))
        print(
            f"{'students':>8} {'load':<22} {'worker p50':>11} {'p95':>8} {'socket p50':>11} "
            f"{'p95':>8} {'overhead p50':>13} {'p95':>8}"
        )
        for n, (count, load, interval) in enumerate(loads):
            cookies = make_students(stack, count, f"n{count}-{n}")
            at_worker = asyncio.run(worker_ttft(base_url, messages, count, args.rounds, interval))
            at_socket = asyncio.run(socket_ttft(stack.app_port, cookies, args.rounds, interval))
            w50, w95 = statistics.median(at_worker) * 1000, percentile(at_worker, 0.95) * 1000
            s50, s95 = statistics.median(at_socket) * 1000, percentile(at_socket, 0.95) * 1000
            print(
                f"{count:>8} {load:<22} {w50:>9.1f}ms {w95:>6.1f}ms {s50:>9.1f}ms {s95:>6.1f}ms "
                f"{s50 - w50:>11.1f}ms {s95 - w95:>6.1f}ms"
            )
            print(f"{'':>8} of which preparing the turn (p50): {statistics.median(PLAN_MS):.1f}ms")
            verdict = "met" if s50 - w50 <= TARGET_MS else "not met"
            print(f"{'':>8} target (overhead at most {TARGET_MS:.0f}ms at p50): {verdict}")
            PLAN_MS.clear()
        log = stack.app_log.read_text().splitlines()
        turns = [line for line in log if ": planned in " in line]
        print("last turns, as the TA logged them:")
        for line in turns[-3:]:
            print("  " + line.split("tutor.ta: ")[-1])


if __name__ == "__main__":
    main()
