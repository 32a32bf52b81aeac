"""Many students at once against the whole app on loopback: browsing, answering, chatting.

Starts a real model worker on a fixture checkpoint and the Eureka app (uvicorn, embedded
PostgreSQL, the sample course), signs in --students students, and lets each of them, for
--seconds, pick an action after a short think time: open a page (the course, a step, the
dashboard, "what I know"; 60%), submit an answer (25%), or ask the TA over the WebSocket and
wait for the whole reply (15%). Bounded in time and in count (--max-actions per student).

Prints p50 and p95 latency per action (a chat action: until the reply is complete), the error
count (HTTP 5xx, failed requests, sockets that closed or timed out; target 0), and lost messages
(target 0): every chat message the students sent is looked up in the database afterwards and
must be stored with a complete reply, and every reply must have reached its socket.

    .venv/bin/python bench/load.py [--students 200] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from websockets.asyncio.client import connect
from websockets.typing import Origin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import in_django, make_students, percentile, running_stack

COURSE = "sample-ramp"
STEP = "counting-characters"
PAGES = [
    f"/courses/{COURSE}/",
    f"/courses/{COURSE}/steps/{STEP}/",
    "/dashboard/",
    f"/courses/{COURSE}/knowledge/",
]
ANSWER_URL = f"/courses/{COURSE}/steps/{STEP}/exercises/count-l/"
QUESTIONS = [
    "Why do we count characters first?",
    "How do I count each character in a string?",
    "Is a space a character too?",
    "What does Counter return?",
]
REPLY_TIMEOUT = 120.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # client ids of chat messages
    replied: set[str] = field(default_factory=set)  # ... whose complete reply reached the socket


async def student(
    base: str, cookie: str, deadline: float, max_actions: int, tally: Tally, rng: random.Random
) -> None:
    name, value = cookie.split("=", 1)
    async with httpx2.AsyncClient(
        base_url=base, cookies={name: value}, timeout=60, follow_redirects=False
    ) as http:
        # The step page sets the CSRF cookie that answers need.
        await timed(tally, "page", http.get(PAGES[1]))
        csrf = http.cookies.get("csrftoken") or ""
        ws_url = base.replace("http://", "ws://") + f"/ws/ta/{COURSE}/{STEP}/"
        origin = Origin(base)
        try:
            async with connect(ws_url, origin=origin, additional_headers={"Cookie": cookie}) as ws:
                json.loads(await ws.recv())  # the conversation's history
                for n in range(max_actions):
                    await asyncio.sleep(rng.uniform(0.5, 2.0))  # think time
                    if time.monotonic() >= deadline:
                        break
                    roll = rng.random()
                    if roll < 0.60:
                        await timed(tally, "page", http.get(rng.choice(PAGES)))
                    elif roll < 0.85:
                        answer = rng.choice(["3", "2", "4"])
                        await timed(
                            tally,
                            "answer",
                            http.post(
                                ANSWER_URL,
                                data={"answer": answer, "csrfmiddlewaretoken": csrf},
                                headers={"X-CSRFToken": csrf, "HX-Request": "true"},
                            ),
                        )
                    else:
                        await chat(ws, f"{value[-10:]}-{n}", rng.choice(QUESTIONS), tally)
        except Exception as error:  # a socket that failed is an error, and so counted
            tally.errors.append(f"socket: {type(error).__name__}: {error}")


async def timed(tally: Tally, kind: str, request: object) -> None:
    started = time.perf_counter()
    try:
        response = await request  # type: ignore[misc]
    except Exception as error:
        tally.errors.append(f"{kind}: {type(error).__name__}: {error}")
        return
    tally.latencies[kind].append(time.perf_counter() - started)
    if response.status_code >= 500 or response.status_code in (400, 403, 404, 429):
        tally.errors.append(f"{kind}: HTTP {response.status_code} {response.url}")


async def chat(ws: object, client_id: str, text: str, tally: Tally) -> None:
    started = time.perf_counter()
    tally.sent.append(client_id)
    frame = json.dumps({"type": "message", "text": text, "client_id": client_id})
    await ws.send(frame)  # type: ignore[attr-defined]
    mine: int | None = None
    while True:
        frame = await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT)  # type: ignore[attr-defined]
        event = json.loads(frame)
        if event.get("type") == "error":
            tally.errors.append(f"chat: refused: {event.get('message')}")
            return
        message = event.get("message", {})
        # Each student writes alone to their own conversation, one message at a time: the
        # first student message after sending is this one, and its reply is the next
        # assistant message to complete.
        if message.get("role") == "student" and mine is None:
            mine = message.get("id")
        done = message.get("role") == "assistant" and message.get("complete")
        if done and mine is not None and message.get("id", 0) > mine:
            tally.replied.add(client_id)
            tally.latencies["chat"].append(time.perf_counter() - started)
            return


def stored_replies(data_dir: str, client_ids: list[str]) -> dict[str, bool]:
    """client id -> whether its message is stored with a complete assistant reply after it (in a
    child process, so that this one never loads Django)."""
    code = f"""
from tutor.models import Message
ids = json.loads({json.dumps(json.dumps(client_ids))})
found = {{}}
for m in Message.objects.filter(client_id__in=ids, role="student"):
    reply = Message.objects.filter(conversation_id=m.conversation_id, role="assistant",
                                   id__gt=m.id).order_by("id").first()
    found[m.client_id] = bool(reply and reply.complete and reply.content)
print(json.dumps(found))
"""
    result: dict[str, bool] = json.loads(in_django(data_dir, code))
    return result


async def run(base: str, cookies: list[str], seconds: float, max_actions: int) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    rng = random.Random(1)
    await asyncio.gather(
        *(
            student(base, c, deadline, max_actions, tally, random.Random(rng.random()))
            for c in cookies
        )
    )
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-actions", type=int, default=100, help="per student")
    args = parser.parse_args()
    with running_stack(worker_args=("--max-batch", "64")) as stack:
        cookies = make_students(stack, args.students, "load")
        started = time.monotonic()
        tally = asyncio.run(run(stack.app_url, cookies, args.seconds, args.max_actions))
        elapsed = time.monotonic() - started
        stored = stored_replies(stack.data_dir, tally.sent)
        if tally.errors:
            lines = stack.app_log.read_text().splitlines()
            at = [i for i, line in enumerate(lines) if " ERROR " in line]
            print(f"the app logged {len(at)} errors; the first, with its traceback:")
            if at:
                print("\n".join("  " + line[:300] for line in lines[at[0] : at[0] + 60]))
    total = sum(len(v) for v in tally.latencies.values())
    print(
        f"{args.students} students for {elapsed:.0f} s: {total} actions ({total / elapsed:.1f}/s)"
    )
    print(f"{'action':>8} {'count':>7} {'p50':>9} {'p95':>9}")
    for kind in ("page", "answer", "chat"):
        values = tally.latencies.get(kind, [])
        if values:
            print(
                f"{kind:>8} {len(values):>7} {statistics.median(values) * 1000:>7.0f}ms "
                f"{percentile(values, 0.95) * 1000:>7.0f}ms"
            )
    lost_stored = [c for c in tally.sent if not stored.get(c)]
    lost_socket = [c for c in tally.sent if c not in tally.replied]
    print(f"errors: {len(tally.errors)}")
    for line in sorted(set(tally.errors))[:10]:
        print("  " + line)
    print(
        f"chat messages sent: {len(tally.sent)}; lost (not stored with a complete reply): "
        f"{len(lost_stored)}; replies that never reached the socket: {len(lost_socket)}"
    )


if __name__ == "__main__":
    main()
