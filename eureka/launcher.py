"""`make run`: the whole embedded platform in one process, on one machine.

Starts (or joins) the embedded PostgreSQL with pgvector, migrates, creates the demo accounts once,
and serves HTTP and WebSocket through uvicorn. Ctrl-C (or SIGTERM) stops the server and, as the
last process holding it, the embedded database.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType


def _port_free(host: str, port: int) -> str | None:
    """None if we can listen on host:port, else a sentence saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (
                    f"Port {port} on {host} is already in use (is another Eureka running?). "
                    f"Stop that process, or pick another port: make run PORT={port + 1}"
                )
            return f"Cannot listen on {host}:{port}: {error.strerror}."
    return None


def worker_threads() -> int:
    """CPU threads for a model worker that shares this machine with the app and its database:
    half the cores, at least one ($MODELWORKER_THREADS, when set, wins). With PyTorch's own
    choice, one per core, the worker's threads wait for cores the app is using: on two cores a
    worker on one thread gave the first token sooner (bench/README.md, "TA latency")."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, cores // 2)


def _start_model_worker() -> subprocess.Popen[bytes] | None:
    """A local model worker for EUREKA_MODELS_DIR (a nanochat base dir), on the port of
    EUREKA_MODEL_BASE_URL. Without it the TA answers from the course material."""
    from urllib.parse import urlsplit

    from django.conf import settings

    models_dir = os.environ.get("EUREKA_MODELS_DIR", "").strip()
    if not models_dir:
        print("Model worker: none (set EUREKA_MODELS_DIR to a nanochat base dir to start one);")
        print("  the TA answers from the course material until a model is reachable.")
        return None
    url = urlsplit(settings.EUREKA_MODEL_BASE_URL)
    command = [
        sys.executable, "-m", "modelworker", "serve", "--base-dir", models_dir,
        "--host", url.hostname or "127.0.0.1", "--port", str(url.port or 8001),
    ]  # fmt: skip
    if not os.environ.get("MODELWORKER_THREADS"):
        command += ["--threads", str(worker_threads())]
    print(f"Model worker: serving {models_dir} at {settings.EUREKA_MODEL_BASE_URL}")
    return subprocess.Popen(command)  # noqa: S603 - our own module, our arguments


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eureka", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("EUREKA_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("EUREKA_PORT", "8000")))
    args = parser.parse_args(argv)

    problem = _port_free(args.host, args.port)
    if problem:
        print(f"eureka: {problem}", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eureka.settings.local")
    # This process serves many requests at once, each on a thread: they share a pool of
    # connections (see eureka.settings.base.database_pool).
    os.environ.setdefault("DATABASE_POOL_SIZE", "20")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from accounts.services import demo_accounts_ensure
    from courses.bundled import sync_bundled_courses

    started = time.perf_counter()
    embedded = "EMBEDDED_DATA_DIR" in settings.DATABASES["default"]
    if embedded:
        print(f"Database: embedded PostgreSQL with pgvector in {settings.DATA_DIR / 'pg'}")
    call_command("migrate", interactive=False, verbosity=0)
    content_dir = settings.BASE_DIR / "content"
    if content_dir.is_dir():
        for line in sync_bundled_courses(content_dir):
            print(f"Course {line}")
    logins = demo_accounts_ensure(logins_file=settings.DATA_DIR / "demo-logins.json")

    import uvicorn

    worker = _start_model_worker()

    url = f"http://{args.host}:{args.port}/"
    banner = [
        f"Demo logins (username / password), also at {settings.DATA_DIR / 'demo-logins.json'}:"
    ]
    banner += [f"  {login.role:<11} {login.username:<11} {login.password}" for login in logins]

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # only once the port is really listening
                print(f"Ready in {time.perf_counter() - started:.1f}s.")
                print("\n".join(banner))
                print(f"\nEureka is running at {url}  (Ctrl-C stops it)\n", flush=True)

    config = uvicorn.Config(
        "eureka.asgi:application",
        host=args.host,
        port=args.port,
        lifespan="off",
        log_level="info",
        timeout_graceful_shutdown=5,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            Server(config).run()
    finally:
        if worker is not None:
            print("Stopping the model worker.", flush=True)
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
    if embedded:
        print("Stopping the embedded database.", flush=True)
    # pgserver stops the embedded server at exit when this is the last process using it.
    return 0


if __name__ == "__main__":
    sys.exit(main())
