"""`make run` end to end: the launcher in a fresh data directory, twice, then Ctrl-C."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _start(env, port):
    return subprocess.Popen(
        [sys.executable, "-m", "eureka.launcher", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until_ready(process, timeout=120):
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Eureka is running at" in line:
            return "".join(lines)
    process.kill()
    pytest.fail("launcher did not become ready:\n" + "".join(lines) + (process.stdout.read() or ""))


def _stop(process, sig):
    process.send_signal(sig)
    try:
        rest, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("launcher did not stop within 30 s")
    return rest


def _postmaster_pid(data_dir):
    pid_file = data_dir / "pg" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def _logins(output):
    return dict(re.findall(r"^\s+(?:student|instructor|ta)\s+(\w+)\s+(\S+)$", output, re.MULTILINE))


def test_run_serves_http_and_websocket_then_ctrl_c_stops_everything(
    tmp_path, free_port, subprocess_env
):
    env = {**subprocess_env, "EUREKA_DATA_DIR": str(tmp_path / "data")}
    process = _start(env, free_port)
    output = _read_until_ready(process)
    try:
        base = f"http://127.0.0.1:{free_port}"
        assert f"Eureka is running at {base}/" in output
        logins = _logins(output)
        assert set(logins) == {"student", "instructor", "ta"}

        health = json.loads(urllib.request.urlopen(f"{base}/healthz", timeout=10).read())
        assert health["checks"]["database"]["ok"], health
        assert "pgvector" in health["checks"]["database"]["detail"]
        landing = urllib.request.urlopen(f"{base}/", timeout=10).read().decode()
        assert "Eureka" in landing
        css = urllib.request.urlopen(f"{base}/static/vendor/pico/pico.min.css", timeout=10)
        assert css.status == 200

        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        # Reaching the consumer proves the WebSocket protocol is served: it closes anonymous
        # sockets with its own code, after the handshake.
        with connect(f"ws://127.0.0.1:{free_port}/ws/notifications/", origin=base) as socket_:
            with pytest.raises(Exception) as closed:
                socket_.recv(timeout=5)
            assert "4401" in str(closed.value)
        with pytest.raises(InvalidStatus):
            connect(
                f"ws://127.0.0.1:{free_port}/ws/notifications/", origin="http://evil.example"
            ).close()

        pg_pid = _postmaster_pid(tmp_path / "data")
        assert pg_pid is not None and psutil.pid_exists(pg_pid)
    finally:
        rest = _stop(process, signal.SIGINT)
    assert process.returncode == 0, rest
    assert "Stopping the embedded database" in rest
    assert not psutil.pid_exists(pg_pid) or psutil.Process(pg_pid).status() == psutil.STATUS_ZOMBIE

    # Second start: same data, same demo logins, no new accounts; SIGTERM stops it as well.
    again = _start(env, free_port)
    second = _read_until_ready(again)
    try:
        assert _logins(second) == logins
        assert json.loads((tmp_path / "data" / "demo-logins.json").read_text()) == logins
    finally:
        _stop(again, signal.SIGTERM)
    assert again.returncode == 0


def test_run_on_a_busy_port_says_so_without_a_traceback(subprocess_env, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "eureka.launcher", "--port", str(port)],
            cwd=ROOT,
            env={**subprocess_env, "EUREKA_DATA_DIR": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists(), "nothing is started when the port is taken"


def test_run_starts_the_model_worker_on_half_the_cores(tmp_path, free_port, subprocess_env):
    from eureka.launcher import worker_threads

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        worker_port = s.getsockname()[1]
    env = {
        **{k: v for k, v in subprocess_env.items() if not k.startswith("MODELWORKER_")},
        "EUREKA_DATA_DIR": str(tmp_path / "data"),
        "EUREKA_MODELS_DIR": str(ROOT / "tests/fixtures/nanochat/head"),
        "EUREKA_MODEL_BASE_URL": f"http://127.0.0.1:{worker_port}/v1",
    }
    process = _start(env, free_port)
    output = _read_until_ready(process)
    try:
        assert f"Model worker: serving {env['EUREKA_MODELS_DIR']}" in output
        deadline = time.monotonic() + 90
        while True:
            try:
                url = f"http://127.0.0.1:{worker_port}/health"
                health = json.loads(urllib.request.urlopen(url, timeout=5).read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        cores = len(os.sched_getaffinity(0))
        assert health["threads"] == worker_threads() == max(1, cores // 2)
    finally:
        rest = _stop(process, signal.SIGINT)
    assert "Stopping the model worker." in rest
    assert process.returncode == 0, rest
