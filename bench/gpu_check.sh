#!/usr/bin/env bash
# The whole GPU measurement of the model worker in one go, on a machine with an NVIDIA GPU.
#
# 1. Writes a randomly initialised nanochat checkpoint of d20 dimensions (head generation:
#    20 layers, 1280 wide, 10 heads of 128, sequence 2048, vocab 32768) in bf16, with a
#    tokenizer of the same size, into a temporary base dir.
# 2. Measures the engine's decode throughput at batch 1 and batch 64 on the GPU and prints the
#    memory-bandwidth bound beside each figure (bandwidth measured on the device by a copy).
# 3. Serves that checkpoint with the worker on cuda and runs bench/modelworker_throughput.py
#    (1, 8, 32, 64 streaming clients against one at a time), which prints the ratio.
#
# Usage: bash bench/gpu_check.sh            (PYTHON=... to pick the interpreter)
#        GPU_CHECK_DEVICE=cpu GPU_CHECK_DEPTH=2 bash bench/gpu_check.sh   (a quick dry run)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
DEPTH="${GPU_CHECK_DEPTH:-20}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if [[ "$DEVICE" == cuda ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi

PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$WORK/base" "$DEVICE" "$DEPTH" <<'PY'
import json
import math
import pickle
import sys
import time
from pathlib import Path

import tiktoken
import torch

from modelworker.checkpoint import open_checkpoint
from modelworker.engine import Engine, SamplingParams
from modelworker.model import GPT
from modelworker.tokenizer import SPECIAL_TOKENS, Tokenizer

base, device, depth = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
dim, head_dim, seq_len, vocab = depth * 64, 128, 2048, 32768
n_head = dim // head_dim
torch.manual_seed(0)

# A tokenizer of the real vocabulary size: 256 bytes, two-byte merges, then the nine specials.
n_merges = vocab - 256 - len(SPECIAL_TOKENS)
ranks = {bytes([i]): i for i in range(256)}
for j in range(n_merges):
    ranks[bytes([j // 256, j % 256])] = 256 + j
specials = {name: 256 + n_merges + k for k, name in enumerate(SPECIAL_TOKENS)}
encoding = tiktoken.Encoding(
    name="gpu-check", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens=specials
)
(base / "tokenizer").mkdir(parents=True)
with open(base / "tokenizer" / "tokenizer.pkl", "wb") as f:
    pickle.dump(encoding, f)

# Random weights with the head generation's keys, saved in bf16 as a GPU run saves them.
def normal(*shape: int, std: float = 0.02) -> torch.Tensor:
    return (torch.randn(*shape) * std).bfloat16()

state = {"transformer.wte.weight": normal(vocab, dim), "lm_head.weight": normal(vocab, dim)}
for i in range(depth):
    p = f"transformer.h.{i}."
    for name in ("c_q", "c_k", "c_v", "c_proj"):
        state[p + f"attn.{name}.weight"] = normal(dim, dim)
    state[p + "mlp.c_fc.weight"] = normal(4 * dim, dim)
    state[p + "mlp.c_proj.weight"] = normal(dim, 4 * dim)
    if i % 2 == (depth - 1) % 2:
        state[f"value_embeds.{i}.weight"] = normal(vocab, dim)
        state[p + "attn.ve_gate.weight"] = normal(n_head, 12, std=0.3)
state["resid_lambdas"] = torch.ones(depth)
state["x0_lambdas"] = torch.full((depth,), 0.1)
state["smear_gate.weight"] = normal(1, 24)
state["smear_lambda"] = torch.zeros(1)
state["backout_lambda"] = torch.full((1,), 0.2)
ckpt_dir = base / "chatsft_checkpoints" / f"d{depth}"
ckpt_dir.mkdir(parents=True)
torch.save(state, ckpt_dir / "model_000000.pt")
config = dict(sequence_len=seq_len, vocab_size=vocab, n_layer=depth, n_head=n_head,
              n_kv_head=n_head, n_embd=dim, window_pattern="SSSL")
(ckpt_dir / "meta_000000.json").write_text(json.dumps({"step": 0, "model_config": config}))
del state

ckpt = open_checkpoint(base)
dtype = torch.bfloat16 if device == "cuda" else torch.float32
model = GPT(ckpt, device=device, dtype=dtype)
tokenizer = Tokenizer.load(ckpt.files.tokenizer_path)
elem = torch.tensor([], dtype=dtype).element_size()
params = sum(t.numel() for t in ckpt.state.values())
print(f"d{depth}: {params / 1e6:.0f}M parameters ({ckpt.arch.generation} generation), {dtype}")

def sync() -> None:
    if device == "cuda":
        torch.cuda.synchronize()

# Device memory bandwidth: read + write of a large copy.
n = (1 << 30) // elem if device == "cuda" else (1 << 26) // elem
src = torch.empty(n, dtype=dtype, device=device)
dst = torch.empty_like(src)
dst.copy_(src)
sync()
start = time.perf_counter()
for _ in range(10):
    dst.copy_(src)
sync()
bandwidth = 10 * 2 * n * elem / (time.perf_counter() - start)
del src, dst
print(f"measured device memory bandwidth: {bandwidth / 1e9:.0f} GB/s")

# Bytes one decode step must read: every matrix and lm_head once (embedding tables are only
# gathered), plus each sequence's keys and values.
matrices = sum(
    t.numel() for k, t in ckpt.state.items()
    if k.startswith("transformer.h.") or k == "lm_head.weight"
) * elem
kv_per_token = depth * 2 * dim * elem

prompt_len, new_tokens = 128, 256
never_stop = ((tokenizer.bos, -100.0), (tokenizer.assistant_end, -100.0))
for batch in (1, 64):
    engine = Engine(model, tokenizer, max_batch=batch, max_context=prompt_len + new_tokens)
    engine.start()
    try:
        params_ = SamplingParams(new_tokens, temperature=1.0, logit_bias=never_stop)
        engine.generate([tokenizer.bos] + [1000 + i for i in range(prompt_len - 1)],
                        SamplingParams(8, temperature=0.0))  # warm-up
        firsts: list[float] = []
        done: list[float] = []

        def sink(events, firsts=firsts, done=done):
            now = time.perf_counter()
            if any(e.token is not None for e in events) and len(firsts) < batch:
                firsts.append(now)
            for e in events:
                if e.error:
                    raise SystemExit(f"generation failed: {e.error}")
                if e.finish_reason:
                    done.append(now)

        seqs = [engine.submit([tokenizer.bos] + [(7 * b + i) % 30000 + 300
                                                 for i in range(prompt_len - 1)], params_, sink)
                for b in range(batch)]
        deadline = time.perf_counter() + 600
        while len(done) < batch:
            if time.perf_counter() > deadline or not engine.alive:
                raise SystemExit(f"batch {batch}: only {len(done)} sequences finished")
            time.sleep(0.01)
        decode_s = max(done) - max(firsts[:batch])
        tokens = batch * (new_tokens - 1)
        measured = tokens / decode_s
        mean_ctx = prompt_len + new_tokens / 2
        step_bytes = matrices + batch * mean_ctx * kv_per_token
        bound = batch * bandwidth / step_bytes
        print(f"batch {batch:>2}: {measured:9.0f} tok/s decode   "
              f"memory-bandwidth bound {bound:9.0f} tok/s   ({100 * measured / bound:.0f}% of it)")
    finally:
        engine.stop()

# Where one batch-1 decode step goes: wall time against the GPU's own kernel time. A step whose
# kernels take a small part of its wall time is bound by the host (Python and kernel launches).
from torch.profiler import ProfilerActivity, profile

cache = model.new_cache(1, 512)
one = torch.tensor([[1000]], device=device)
pos = torch.tensor([[200]], device=device)
zero = torch.zeros(1, dtype=torch.long, device=device)
for _ in range(3):
    model.forward(one, pos, cache, slice(0, 1), zero)
sync()
start = time.perf_counter()
for _ in range(20):
    model.forward(one, pos, cache, slice(0, 1), zero)
sync()
wall_ms = (time.perf_counter() - start) / 20 * 1e3
activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
with profile(activities=activities) as prof:
    for _ in range(5):
        model.forward(one, pos, cache, slice(0, 1), zero)
    sync()
events = prof.key_averages()
kernel_us = sum(getattr(e, "self_device_time_total", 0) or 0 for e in events) / 5
launches = sum(e.count for e in events if e.key.startswith(("cudaLaunchKernel", "cuLaunchKernel"))) / 5
print(f"batch-1 decode step: {wall_ms:.1f} ms wall, {kernel_us / 1e3:.1f} ms of GPU kernels, "
      f"{launches:.0f} kernel launches")
print(events.table(sort_by="self_cpu_time_total", row_limit=10))
PY

BOS=$(( 32768 - 9 ))
ASSISTANT_END=$(( 32768 - 5 ))
"$PYTHON" bench/modelworker_throughput.py --base-dir "$WORK/base" --device "$DEVICE" \
  --clients "${GPU_CHECK_CLIENTS:-1,8,32,64}" --max-tokens "${GPU_CHECK_TOKENS:-256}" \
  --ban "$BOS,$ASSISTANT_END"
