"""Continuous batching: sequences join and leave between decode steps without disturbing others."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from modelworker.engine import Event, QueueFull, SamplingParams
from tests.modelworker.conftest import NEVER_STOP, loaded, running_engine

PROMPTS = [f"Question {i}: what does a {'key value ' * (i % 4)}cache store?" for i in range(10)]


def _ids(text: str) -> list[int]:
    return loaded("head")[1].encode_text_prompt(text)


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_ten_concurrent_greedy_sequences_equal_ten_sequential_ones() -> None:
    params = SamplingParams(max_tokens=40, temperature=0.0)
    with running_engine("head", max_batch=16) as engine:
        sequential = [engine.generate(_ids(p), params) for p in PROMPTS]
        with ThreadPoolExecutor(10) as pool:
            concurrent = list(pool.map(lambda p: engine.generate(_ids(p), params), PROMPTS))
    assert concurrent == sequential
    assert len({tuple(tokens) for tokens, _ in sequential}) > 1


def test_seeded_sampling_gives_the_same_tokens_alone_and_in_a_batch() -> None:
    params = SamplingParams(max_tokens=30, temperature=0.9, top_p=0.95, top_k=40, seed=1234)
    with running_engine("head-mqa", max_batch=16) as engine:
        alone = engine.generate(_ids("Sampling with a seed"), params)
        again = engine.generate(_ids("Sampling with a seed"), params)
        with ThreadPoolExecutor(6) as pool:
            noisy = [
                pool.submit(
                    engine.generate, _ids(p), SamplingParams(max_tokens=30, temperature=1.0)
                )
                for p in PROMPTS[:5]
            ]
            batched = pool.submit(engine.generate, _ids("Sampling with a seed"), params).result()
            [f.result() for f in noisy]
        other_seed = engine.generate(
            _ids("Sampling with a seed"),
            SamplingParams(max_tokens=30, temperature=0.9, top_p=0.95, top_k=40, seed=99),
        )
    assert alone == again == batched
    assert other_seed != alone


def test_top_k_one_and_tiny_top_p_sample_the_argmax() -> None:
    greedy = SamplingParams(max_tokens=20, temperature=0.0)
    with running_engine("2026-01") as engine:
        expected = engine.generate(_ids(PROMPTS[3]), greedy)[0]
        top1 = engine.generate(_ids(PROMPTS[3]), SamplingParams(20, temperature=1.5, top_k=1))
        nucleus = engine.generate(_ids(PROMPTS[3]), SamplingParams(20, temperature=1.0, top_p=1e-6))
    # Greedy may stop early at <|assistant_end|>; the samplers see the same logits.
    assert top1[0] == expected
    assert nucleus[0] == expected


def test_max_tokens_ends_a_sequence_with_length() -> None:
    with running_engine("head") as engine:
        tokens, reason = engine.generate(
            _ids("count"), SamplingParams(5, temperature=1, logit_bias=NEVER_STOP)
        )
    assert (len(tokens), reason) == (5, "length")


def test_the_engine_refuses_what_does_not_fit_the_context() -> None:
    with running_engine("head", max_context=64) as engine:
        with pytest.raises(ValueError, match="fit the context"):
            engine.submit(list(range(60)), SamplingParams(max_tokens=5), lambda e: None)
        tokens, reason = engine.generate(
            list(range(10, 60)), SamplingParams(14, temperature=1, logit_bias=NEVER_STOP)
        )
    assert (len(tokens), reason) == (14, "length")


def test_cancelling_a_sequence_frees_its_slot_and_cache() -> None:
    started = threading.Event()
    events: list[Event] = []

    def sink(batch: list[Event]) -> None:
        events.extend(batch)
        started.set()

    with running_engine("head-mqa", max_batch=2, max_context=4000) as engine:
        seq = engine.submit(
            _ids("a long answer"),
            SamplingParams(3900, temperature=1.0, logit_bias=NEVER_STOP),
            sink,
        )
        other = engine.submit(
            _ids("another one"), SamplingParams(3900, temperature=1.0, logit_bias=NEVER_STOP), sink
        )
        assert started.wait(10)
        engine.cancel(seq)
        _wait_until(lambda: any(e.finish_reason == "cancelled" for e in events))
        assert engine.metrics.running._value.get() <= 1
        # The freed slot takes a new sequence while the other one keeps running.
        tokens, reason = engine.generate(_ids("next student"), SamplingParams(8, temperature=0))
        assert (len(tokens) == 8 and reason == "length") or reason == "stop"
        assert not other.finished and other.slot == 0
        engine.cancel(other)
        _wait_until(lambda: engine.metrics.running._value.get() == 0)
        assert engine.metrics.kv_cache_tokens._value.get() == 0
    assert len(seq.output) < 3900


def test_a_full_queue_turns_new_sequences_away() -> None:
    with running_engine("head", max_batch=1, max_queue=2, max_context=256) as engine:
        long = SamplingParams(240, temperature=1.0, logit_bias=NEVER_STOP)
        first = engine.submit(_ids("one"), long, lambda e: None)
        _wait_until(lambda: first.slot == 0)
        queued = [engine.submit(_ids("two"), long, lambda e: None) for _ in range(2)]
        with pytest.raises(QueueFull):
            engine.submit(_ids("three"), long, lambda e: None)
        for seq in [first, *queued]:
            engine.cancel(seq)
        _wait_until(lambda: engine.metrics.queue_depth._value.get() == 0)
        assert engine.generate(_ids("four"), SamplingParams(3, temperature=0.0))[0]


def test_sequences_join_a_running_batch_between_decode_steps() -> None:
    with running_engine("head-mqa", max_batch=8, max_context=2000) as engine:
        first = engine.submit(
            _ids("first"),
            SamplingParams(1900, temperature=1.0, logit_bias=NEVER_STOP),
            lambda e: None,
        )
        _wait_until(lambda: len(first.output) >= 5)
        tokens, _ = engine.generate(_ids("second"), SamplingParams(10, temperature=0.0))
        # The second sequence finished while the first kept going: it did not wait for it.
        assert tokens and not first.finished
        engine.cancel(first)
