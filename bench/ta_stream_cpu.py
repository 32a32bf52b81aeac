"""What a streamed TA reply costs the app's CPU, beside what the same reply costs sent once.

At every flush of a reply that is still being written the TA checks the whole text so far with
the solution guard, renders it to safe HTML and sends it as JSON. A reply of --tokens tokens
(about 4 characters each: paragraphs, a list, a code block, as the TA writes) is streamed
against every exercise with a worked solution in LLM101n, flushed after every token (what a
loaded or CPU model worker gives: tokens slower than the flush interval) and after every 5 (a
fast worker and the 50 ms flush interval). The baseline, in the same run: the complete reply
checked, rendered and encoded once. Prints milliseconds of CPU per reply and the ratio.

    .venv/bin/python bench/ta_stream_cpu.py [--tokens 400]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARAGRAPH = (
    "Counting comes first because every probability in the model is a count divided by a "
    "total. Before you write any code, ask yourself what you would need to know to say how "
    "likely one character is to follow another. "
)
LIST = "Try it in three moves:\n\n- pick a pair of characters\n- count how often it appears\n"
CODE = "```python\nfor word in words:\n    chars = list(word)\n    print(chars[:3])\n```\n"


def reply_text(tokens: int) -> str:
    """A teaching reply of about `tokens` tokens (4 characters each), in Markdown."""
    parts: list[str] = []
    while sum(map(len, parts)) < tokens * 4:
        parts += [PARAGRAPH, LIST, PARAGRAPH, CODE]
    return "\n\n".join(parts)[: tokens * 4]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=400, help="the reply's length in tokens")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eureka.settings.test")
    import django

    django.setup()
    from courses import rendering
    from courses.fileformat import read_folder
    from tutor import guards, ta
    from tutor.guards import ReplyGuard

    course, problems, _ = read_folder(ROOT / "content/llm101n")
    if course is None:
        raise SystemExit(f"LLM101n did not load: {problems}")
    exercises = [e for s in course.steps() for e in s.exercises if e.solution]
    text = reply_text(args.tokens)
    tokens = [text[i : i + 4] for i in range(0, len(text), 4)]

    def forget() -> None:
        """Each reply starts with nothing remembered of another (the same text every time)."""
        for module in (guards, rendering):
            for name in ("_segment_readings", "_decode_base64", "_render_block"):
                clear = getattr(getattr(module, name, None), "cache_clear", None)
                if clear is not None:
                    clear()

    def flushes(every: int) -> float:
        """CPU seconds to stream the reply against each exercise, flushing every `every`."""
        started = time.process_time()
        for exercise in exercises:
            forget()
            guard = ReplyGuard(exercise)  # built once per turn, as the TA's plan does
            sofar = ""
            for n, token in enumerate(tokens, 1):
                sofar += token
                if n % every and n != len(tokens):
                    continue
                if guard.check(sofar, solution_unlocked=False).tripped:
                    raise SystemExit(f"the bench reply tripped the guard of {exercise.slug}")
                event = ta.reply_event(id=1, role="assistant", text=sofar, complete=False, seq=n)
                json.dumps(event["message"])
        return time.process_time() - started

    def once() -> float:
        started = time.process_time()
        for exercise in exercises:
            forget()
            ReplyGuard(exercise).check(text, solution_unlocked=False)
            event = ta.reply_event(id=1, role="assistant", text=text, complete=True, seq=1)
            json.dumps(event["message"])
        return time.process_time() - started

    per = 1000 / len(exercises)
    base = statistics.median(once() for _ in range(5)) * per
    print(f"reply: {len(text)} characters, {len(tokens)} tokens; {len(exercises)} exercises")
    print(f"{'sent once (baseline)':>24} {base:8.2f} ms CPU per reply")
    for every in (1, 5):
        cost = statistics.median(flushes(every) for _ in range(3)) * per
        label = f"flushed every {every} token" + ("s" if every > 1 else "")
        print(f"{label:>24} {cost:8.2f} ms CPU per reply  ({cost / base:.1f}x the baseline)")


if __name__ == "__main__":
    main()
