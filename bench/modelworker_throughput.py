"""Throughput of the model worker under N concurrent streaming clients, against one at a time.

For each N in --clients, N students each stream one chat completion of --max-tokens tokens
through the `openai` client (all at once), then the same N requests are sent one after another
(how nanochat's own server used a device: one request per device). Prints aggregate generated
tokens/s, time to first token p50/p95 and inter-token latency p50/p95 for both, and the ratio.

Stop tokens are banned through logit_bias so every request generates exactly --max-tokens tokens;
the random fixture models would otherwise stop at arbitrary points.

    .venv/bin/python bench/modelworker_throughput.py                    # starts a CPU worker
    .venv/bin/python bench/modelworker_throughput.py --url http://127.0.0.1:8001/v1 --api-key K
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    tokens: int = 0
    ttft: float = 0.0
    gaps: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one_request(
    client: openai.AsyncOpenAI, model: str, i: int, max_tokens: int, bias: dict[str, int]
) -> Result:
    result = Result()
    start = time.perf_counter()
    last = start
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": f"Student {i}: explain step {i % 7} of the ramp."}],
        max_tokens=max_tokens,
        temperature=1.0,
        seed=i,
        logit_bias=bias,
        stream=True,
        extra_body={"return_token_ids": True},
    )
    async for chunk in stream:
        if not chunk.choices:
            continue
        ids = (chunk.choices[0].model_extra or {}).get("token_ids") or []
        if not ids:
            continue
        now = time.perf_counter()
        if result.tokens == 0:
            result.ttft = now - start
        else:
            # A chunk that carries several tokens spreads its gap over them.
            result.gaps += [(now - last) / len(ids)] * len(ids)
        result.tokens += len(ids)
        last = now
    return result


async def concurrent(
    client: openai.AsyncOpenAI, model: str, n: int, max_tokens: int, bias: dict[str, int]
) -> tuple[list[Result], float]:
    start = time.perf_counter()
    results = await asyncio.gather(
        *(one_request(client, model, i, max_tokens, bias) for i in range(n))
    )
    return list(results), time.perf_counter() - start


async def sequential(
    client: openai.AsyncOpenAI, model: str, n: int, max_tokens: int, bias: dict[str, int]
) -> tuple[list[Result], float]:
    start = time.perf_counter()
    results = [await one_request(client, model, i, max_tokens, bias) for i in range(n)]
    return results, time.perf_counter() - start


def summary(results: list[Result], seconds: float) -> tuple[float, float, float, float, float]:
    tokens = sum(r.tokens for r in results)
    ttfts = [r.ttft for r in results]
    gaps = [g for r in results for g in r.gaps]
    return (
        tokens / seconds,
        percentile(ttfts, 0.5) * 1000,
        percentile(ttfts, 0.95) * 1000,
        percentile(gaps, 0.5) * 1000,
        percentile(gaps, 0.95) * 1000,
    )


async def run(args: argparse.Namespace, url: str) -> None:
    client = openai.AsyncOpenAI(base_url=url, api_key=args.api_key, max_retries=0, timeout=600)
    bias = {str(t): -100 for t in args.ban}
    await one_request(client, args.model, 0, 4, bias)  # warm-up
    header = (
        f"{'clients':>7} | {'mode':>10} | {'tok/s':>9} | {'TTFT p50':>9} | {'TTFT p95':>9} | "
        f"{'ITL p50':>8} | {'ITL p95':>8}"
    )
    print(f"max_tokens={args.max_tokens} per request; latencies in ms")
    print(header)
    print("-" * len(header))
    ratios = []
    for n in args.clients:
        together = summary(*await concurrent(client, args.model, n, args.max_tokens, bias))
        alone = summary(*await sequential(client, args.model, n, args.max_tokens, bias))
        for mode, row in (("concurrent", together), ("one by one", alone)):
            print(
                f"{n:>7} | {mode:>10} | {row[0]:>9.1f} | {row[1]:>9.1f} | {row[2]:>9.1f} | "
                f"{row[3]:>8.2f} | {row[4]:>8.2f}"
            )
        ratios.append((n, together[0] / alone[0]))
    print()
    for n, ratio in ratios:
        print(f"{n:>3} streams: {ratio:5.2f}x the one-at-a-time throughput")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_worker(args: argparse.Namespace) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWORKER_")}
    env["MODELWORKER_API_KEY"] = args.api_key
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "modelworker",
        "serve",
        f"--base-dir={args.base_dir}",
        f"--port={port}",
        f"--max-batch={max(args.clients)}",
        "--embeddings=off",
        "--log-level=warning",
        f"--model-name={args.model}",
    ]
    if args.device:
        command.append(f"--device={args.device}")
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 600
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the worker exited with {process.returncode}")
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{port}/health"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        print(response.read().decode())
                        break
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not become healthy")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running worker (default: start one)")
    parser.add_argument("--api-key", default="bench")
    parser.add_argument("--model", default="nanochat")
    parser.add_argument(
        "--base-dir",
        default=str(REPO / "tests" / "fixtures" / "nanochat" / "head-mqa"),
        help="checkpoint base dir for the worker this script starts",
    )
    parser.add_argument("--device", choices=["cuda", "cpu"])
    parser.add_argument("--clients", default="1,8,32,64")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--ban",
        default="503,507",
        help="token ids banned so requests run to max_tokens (the stop tokens of the fixtures)",
    )
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    args.ban = [int(t) for t in args.ban.split(",") if t]
    if args.url:
        asyncio.run(run(args, args.url))
        return
    with local_worker(args) as url:
        asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
