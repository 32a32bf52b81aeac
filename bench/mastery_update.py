"""Time of one mastery update (knowledge tracing, ability, difficulty, review schedule) as the
web app does it after each graded answer: in a transaction with row locks, on the embedded
PostgreSQL. The baseline, in the same run, is the same update as a pure function.

    .venv/bin/python bench/mastery_update.py [--updates 500]
Target: under 5 ms per update (p50).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["EUREKA_DATA_DIR"] = data_dir
        os.environ["DJANGO_SETTINGS_MODULE"] = "eureka.settings.local"
        import django

        django.setup()
        from django.core.management import call_command

        from accounts.models import User
        from courses import fileformat, selectors, services
        from tutor import learner
        from tutor.services import mastery_record_answer

        call_command("migrate", verbosity=0)
        _, _, files = fileformat.read_folder(ROOT / "tests/fixtures/courses/sample-ramp")
        course = services.course_import(files=files).course
        version = services.course_publish(course=course, user=None)
        spec = selectors.version_spec(version)
        step = spec.steps()[0]
        exercise = step.exercises[0]
        user = User.objects.create(username="bench")

        timings = []
        for i in range(args.updates):
            started = time.perf_counter()
            mastery_record_answer(
                user=user, course=course, step=step, exercise=exercise, correct=i % 3 != 0
            )
            timings.append(time.perf_counter() - started)
        pure = []
        p = 0.2
        for i in range(args.updates):
            started = time.perf_counter()
            p = learner.bkt_update(p, i % 3 != 0, learner.DEFAULT_PARAMS, 0.02)
            pure.append(time.perf_counter() - started)
        timings.sort()
        p50, p95 = statistics.median(timings) * 1000, timings[int(0.95 * (len(timings) - 1))] * 1000
        base = statistics.median(pure) * 1000
        print(
            f"mastery update with the database: p50 {p50:.2f} ms, p95 {p95:.2f} ms "
            f"({args.updates} updates)"
        )
        print(f"pure knowledge-tracing update:     p50 {base * 1000:.1f} us")
        print(f"database share: {p50 / base:.0f}x the pure update; target p50 < 5 ms")


if __name__ == "__main__":
    main()
