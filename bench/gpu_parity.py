"""The worker's model on a GPU against nanochat's own reference outputs of every fixture.

For each fixture generation and reference input: the last position's log-softmax (fp32 on the
GPU, TF32 off, against the CPU reference) and the 24-token greedy continuation, uncached and
through the engine's KV cache. Prints the largest log-prob difference and whether the tokens match;
exits non-zero on a mismatch beyond the tolerance.

    python bench/gpu_parity.py [--device cuda] [--tolerance 1e-3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modelworker.checkpoint import open_checkpoint  # noqa: E402
from modelworker.engine import Engine, SamplingParams  # noqa: E402
from modelworker.model import GPT  # noqa: E402
from modelworker.tokenizer import Tokenizer  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "nanochat"
GENERATIONS = ("2025-10", "2026-01", "head", "head-mqa")
STEPS = 24


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    failures = 0
    for generation in GENERATIONS:
        ckpt = open_checkpoint(FIXTURES / generation)
        model = GPT(ckpt, device=args.device)
        tokenizer = Tokenizer.load(ckpt.files.tokenizer_path)
        reference = json.loads((FIXTURES / generation / "reference.json").read_text())
        engine = Engine(model, tokenizer, max_batch=8, max_context=320)
        engine.start()
        try:
            for item in reference["inputs"]:
                ids = item["token_ids"]
                logits = model.forward(torch.tensor([ids], device=args.device))[0, -1].cpu()
                expected = torch.tensor(item["final_log_softmax"])
                diff = (torch.log_softmax(logits, -1) - expected).abs().max().item()
                seq = list(ids)
                for _ in range(STEPS):
                    nxt = model.forward(torch.tensor([seq], device=args.device))[0, -1].argmax()
                    seq.append(int(nxt))
                uncached = seq[len(ids) :]
                want = item["greedy"]["uncached_tokens"]
                cached, _ = engine.generate(ids, SamplingParams(STEPS, temperature=0.0))
                # The engine stops at an end token; what it produced must be the reference's prefix.
                same = bool(cached) and cached == want[: len(cached)]
                ok = diff < args.tolerance and uncached == want and same
                failures += not ok
                print(
                    f"{generation:9} {item['name']:22} max |dlogp| {diff:.2e}  "
                    f"greedy uncached {'=' if uncached == want else '!='}  "
                    f"cached {'=' if same else '!='} ({len(cached)} tokens)  "
                    f"{'ok' if ok else 'MISMATCH'}"
                )
        finally:
            engine.stop()
    print(f"{failures} mismatch(es) on {args.device}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
