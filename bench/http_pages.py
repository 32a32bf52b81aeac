"""Requests per second and latency of the main pages, served the way `make run` serves them.

Starts the launcher (uvicorn + the embedded PostgreSQL) on a free loopback port, then fetches each
path with C concurrent keep-alive clients for a fixed number of requests. The baseline is a static
file served in the same run (no view, no database), so the ratios hold on a noisy shared machine.

    .venv/bin/python bench/http_pages.py [--requests 400] [--concurrency 1 8]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    "static file (baseline)": "/static/css/eureka.css",
    "landing page": "/",
    "log-in page": "/accounts/login/",
    "healthz": "/healthz",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, data_dir: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EUREKA_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["EUREKA_DATA_DIR"] = data_dir
    env["EUREKA_LOG_LEVEL"] = "WARNING"
    # The server's output goes to a file: a pipe nobody drains would fill with access-log lines
    # and block the server.
    log = Path(data_dir) / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "eureka.launcher", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "Eureka is running at" in log.read_text():
            return process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise SystemExit("the server did not start:\n" + log.read_text())


def worker(port: int, path: str, count: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status >= 500:
            raise SystemExit(f"{path} answered {response.status}")
        latencies.append(time.perf_counter() - started)
    connection.close()
    return latencies


def measure(port: int, path: str, requests: int, concurrency: int) -> tuple[float, float, float]:
    worker(port, path, 5)  # warm up
    per_client = max(1, requests // concurrency)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: worker(port, path, per_client), range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies = sorted(x for r in results for x in r)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p95 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(port, data_dir)
        try:
            header = f"{'path':<24}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
            print(f"{header}{'vs baseline':>13}")
            for concurrency in args.concurrency:
                baseline = None
                for label, path in PATHS.items():
                    rps, p50, p95 = measure(port, path, args.requests, concurrency)
                    baseline = baseline or rps
                    print(
                        f"{label:<24}{concurrency:>8}{rps:>10.0f}{p50:>9.1f}{p95:>9.1f}"
                        f"{rps / baseline:>12.2f}x"
                    )
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
