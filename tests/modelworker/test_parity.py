"""The worker reproduces nanochat's own outputs on every fixture generation.

Tolerance: the fixture README suggests 1e-4 absolute on logits and log-probs for an fp32
implementation that rounds the rotary tables as nanochat does, and exact token ids.
"""

from __future__ import annotations

import threading

import pytest
import torch

from modelworker.engine import Engine, Event, SamplingParams
from tests.modelworker.conftest import (
    GENERATIONS,
    INPUTS,
    NEVER_STOP,
    loaded,
    reference,
    reference_input,
    running_engine,
)

TOLERANCE = 1e-4
GREEDY = SamplingParams(max_tokens=24, temperature=0.0)
CASES = [(g, name) for g in GENERATIONS for name in INPUTS]


def _prompt(generation: str, name: str) -> list[int]:
    _, tokenizer = loaded(generation)
    item = reference_input(generation, name)
    if item["kind"] == "text":
        return tokenizer.encode_text_prompt(item["text"])
    return tokenizer.render_for_completion(item["messages"])


@pytest.mark.parametrize(("generation", "name"), CASES)
def test_prompt_token_ids_match_nanochat(generation: str, name: str) -> None:
    assert _prompt(generation, name) == reference_input(generation, name)["token_ids"]


@pytest.mark.parametrize(("generation", "name"), CASES)
def test_last_position_logits_match_nanochat(generation: str, name: str) -> None:
    model, _ = loaded(generation)
    item = reference_input(generation, name)
    logits = model.forward(torch.tensor([item["token_ids"]]))[0]
    last = logits[-1]
    first64 = torch.tensor(item["final_logits_first64"])
    assert (last[:64] - first64).abs().max().item() < TOLERANCE
    log_softmax = torch.tensor(item["final_log_softmax"])
    assert (torch.log_softmax(last, -1) - log_softmax).abs().max().item() < TOLERANCE
    assert int(last.argmax()) == item["final_argmax"]
    assert abs(last.max().item() - item["final_max_logit"]) < TOLERANCE
    assert logits.argmax(-1).tolist() == item["argmax_per_position"]


@pytest.mark.parametrize(("generation", "name"), CASES)
def test_greedy_continuation_without_cache_matches_nanochat(generation: str, name: str) -> None:
    model, tokenizer = loaded(generation)
    item = reference_input(generation, name)
    ids = list(item["token_ids"])
    for _ in range(24):
        ids.append(int(model.forward(torch.tensor([ids]))[0, -1].argmax()))
    generated = ids[len(item["token_ids"]) :]
    assert generated == item["greedy"]["uncached_tokens"]
    raw = b"".join(tokenizer.token_bytes(t) for t in generated)
    assert raw.hex() == item["greedy"]["uncached_bytes_hex"]


@pytest.mark.parametrize(("generation", "name"), CASES)
def test_greedy_continuation_with_cache_matches_nanochat(generation: str, name: str) -> None:
    model, _ = loaded(generation)
    item = reference_input(generation, name)
    ids = item["token_ids"]
    n = len(ids)
    cache = model.new_cache(n_slots=3, max_len=n + 24)
    # A slot other than the first, so row offsets in the cache are exercised too.
    rows = slice(2, 3)
    logits = model.forward(
        torch.tensor([ids]), torch.arange(n)[None], cache, rows, torch.tensor([n - 1])
    )
    plain = model.forward(torch.tensor([ids]))[0, -1]
    assert (logits[0] - plain).abs().max().item() < TOLERANCE
    tokens = []
    for step in range(24):
        tokens.append(int(logits[0].argmax()))
        logits = model.forward(
            torch.tensor([[tokens[-1]]]), torch.tensor([[n + step]]), cache, rows, torch.tensor([0])
        )
    assert tokens == item["greedy"]["cached_raw_loop_tokens"]


@pytest.mark.parametrize("generation", GENERATIONS)
def test_engine_alone_reproduces_nanochat_engine(generation: str) -> None:
    with running_engine(generation) as engine:
        for item in reference(generation)["inputs"]:
            tokens, reason = engine.generate(item["token_ids"], GREEDY)
            greedy = item["greedy"]
            assert tokens == greedy["engine_tokens"], item["name"]
            assert (reason == "stop") == greedy["engine_stopped_early"], item["name"]


@pytest.mark.parametrize("generation", GENERATIONS)
def test_engine_inside_busy_batch_reproduces_nanochat_engine(generation: str) -> None:
    _, tokenizer = loaded(generation)
    inputs = reference(generation)["inputs"]
    # Engine step of every event, per sequence: shows which sequences shared decode steps.
    steps: dict[str, list[int]] = {}
    tokens: dict[str, list[int]] = {}
    done = threading.Semaphore(0)

    def recorder(name: str, engine: Engine):
        def sink(events: list[Event]) -> None:
            steps.setdefault(name, []).append(engine.steps)
            tokens.setdefault(name, []).extend(e.token for e in events if e.token is not None)
            if any(e.finish_reason or e.error for e in events) and not name.startswith("bg"):
                done.release()

        return sink

    with running_engine(generation, max_batch=12) as engine:
        # Sampled background sequences of other lengths keep the batch busy throughout.
        background = [
            engine.submit(
                tokenizer.encode_text_prompt(f"background question {i} " * (i + 1)),
                SamplingParams(250, temperature=1.0, top_k=50, seed=i, logit_bias=NEVER_STOP),
                recorder(f"bg{i}", engine),
            )
            for i in range(5)
        ]
        for item in inputs:
            engine.submit(item["token_ids"], GREEDY, recorder(item["name"], engine))
        for _ in inputs:
            assert done.acquire(timeout=60)
        for seq in background:
            engine.cancel(seq)
    background_steps = {step for i in range(5) for step in steps[f"bg{i}"]}
    for item in inputs:
        assert tokens[item["name"]] == item["greedy"]["engine_tokens"], item["name"]
        first, last = steps[item["name"]][0], steps[item["name"]][-1]
        assert background_steps & set(range(first, last + 1)), "the batch was not busy"


@pytest.mark.parametrize("generation", GENERATIONS)
def test_base_checkpoint_link_loads_the_same_weights(generation: str) -> None:
    from modelworker.checkpoint import open_checkpoint
    from modelworker.model import GPT
    from tests.modelworker.conftest import FIXTURES

    base = GPT(open_checkpoint(FIXTURES / generation, source="base"))
    item = reference_input(generation, "raw_short")
    logits = base.forward(torch.tensor([item["token_ids"]]))[0, -1]
    first64 = torch.tensor(item["final_logits_first64"])
    assert (logits[:64] - first64).abs().max().item() < TOLERANCE
