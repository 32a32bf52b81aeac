"""Continuous batching over one shared KV cache.

One engine thread owns the model and the cache. Between two decode steps it drops cancelled
sequences, admits waiting ones (prefilled together, right-padded, up to a token budget) and then
advances every running sequence by one token. Running sequences always occupy slots 0..n-1 of the
cache: when one leaves, the last one moves into its slot, so a decode step reads one contiguous
block of the cache.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from modelworker.metrics import Metrics
from modelworker.model import GPT
from modelworker.tokenizer import Tokenizer, calculate

log = logging.getLogger("modelworker.engine")


class QueueFull(Exception):
    """The waiting queue is at its bound; the client should retry later."""


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    seed: int | None = None
    # Added to the logits of these token ids before sampling (greedy included): -100 bans one.
    logit_bias: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Event:
    """One step of a sequence: a new token, the end (with its reason), or a failure."""

    token: int | None = None
    forced: bool = False
    finish_reason: str | None = None
    error: str | None = None


Sink = Callable[[list[Event]], None]


@dataclass(eq=False)
class Sequence:
    prompt: list[int]
    params: SamplingParams
    sink: Sink
    arrival: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    finished: bool = False
    slot: int = -1
    # Tokens whose keys and values are in the cache.
    length: int = 0
    output: list[int] = field(default_factory=list)
    tool: Calculator | None = None
    last_emit: float = 0.0
    generator: torch.Generator | None = None


class Engine:
    def __init__(
        self,
        model: GPT,
        tokenizer: Tokenizer,
        *,
        max_batch: int = 16,
        max_context: int | None = None,
        max_queue: int = 256,
        prefill_tokens: int = 4096,
        metrics: Metrics | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch = max_batch
        self.max_context = max_context or model.config.sequence_len
        if self.max_context > model.max_positions:
            raise ValueError(
                f"max context {self.max_context} is beyond the model's {model.max_positions} "
                "rotary positions"
            )
        self.max_queue = max_queue
        self.prefill_tokens = prefill_tokens
        self.metrics = metrics or Metrics()
        self.cache = model.new_cache(max_batch, self.max_context)
        self.metrics.kv_cache_bytes.set(self.cache.nbytes)
        self.stop_ids = frozenset({tokenizer.assistant_end, tokenizer.bos})
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.steps = 0

    # --- public, any thread ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="modelworker-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, prompt: list[int], params: SamplingParams, sink: Sink) -> Sequence:
        """Queue a sequence; raises QueueFull when the waiting queue is at its bound.

        The caller has checked that the prompt and max_tokens fit the context.
        """
        if not prompt or len(prompt) + params.max_tokens > self.max_context:
            raise ValueError("prompt plus max_tokens must fit the context")
        seq = Sequence(list(prompt), params, sink)
        with self._cond:
            if len(self._waiting) >= self.max_queue:
                raise QueueFull
            self._waiting.append(seq)
            self.metrics.queue_depth.set(len(self._waiting))
            self._cond.notify()
        return seq

    def cancel(self, seq: Sequence) -> None:
        """Stop generating for `seq`; its slot is freed before the next step."""
        with self._cond:
            seq.cancelled = True
            self._cond.notify()

    def generate(self, prompt: list[int], params: SamplingParams) -> tuple[list[int], str]:
        """Blocking convenience: all tokens of one sequence and its finish reason."""
        done = threading.Event()
        events: list[Event] = []

        def sink(batch: list[Event]) -> None:
            events.extend(batch)
            if any(e.finish_reason or e.error for e in batch):
                done.set()

        self.submit(prompt, params, sink)
        done.wait()
        errors = [e.error for e in events if e.error]
        if errors:
            raise RuntimeError(errors[0])
        tokens = [e.token for e in events if e.token is not None]
        reason = next(e.finish_reason for e in events if e.finish_reason)
        return tokens, reason

    # --- engine thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._waiting and not self._running:
                    self._cond.wait()
                if self._stopped:
                    break
            outbox: dict[Sink, list[Event]] = {}
            try:
                self._reap(outbox)
                self._admit(outbox)
                if self._running:
                    self._decode(outbox)
                self.steps += 1
            except Exception as error:
                # A failure of one step ends the sequences in it, never the worker.
                log.exception("engine step failed")
                for seq in list(self._running):
                    self._finish(seq, outbox, error=f"generation failed: {error}")
            finally:
                self._deliver(outbox)
                self._update_gauges()
        for seq in [*self._running, *self._waiting]:
            seq.sink([Event(error="the worker is shutting down")])

    def _deliver(self, outbox: dict[Sink, list[Event]]) -> None:
        for sink, events in outbox.items():
            try:
                sink(events)
            except Exception:
                log.exception("delivering tokens failed")

    def _update_gauges(self) -> None:
        m = self.metrics
        m.running.set(len(self._running))
        m.queue_depth.set(len(self._waiting))
        used = sum(s.length for s in self._running)
        m.kv_cache_tokens.set(used)
        m.kv_cache_usage.set(used / (self.max_batch * self.max_context))

    def _reap(self, outbox: dict[Sink, list[Event]]) -> None:
        with self._cond:
            dropped = [s for s in self._waiting if s.cancelled]
            for seq in dropped:
                self._waiting.remove(seq)
        for seq in dropped:
            seq.finished = True
            outbox.setdefault(seq.sink, []).append(Event(finish_reason="cancelled"))
            self.metrics.finished.labels(reason="cancelled").inc()
        for seq in [s for s in self._running if s.cancelled]:
            self._finish(seq, outbox, reason="cancelled")

    def _finish(
        self,
        seq: Sequence,
        outbox: dict[Sink, list[Event]],
        reason: str | None = None,
        error: str | None = None,
    ) -> None:
        if seq.finished:
            return
        seq.finished = True
        outbox.setdefault(seq.sink, []).append(Event(finish_reason=reason, error=error))
        self.metrics.finished.labels(reason=reason or "error").inc()
        i = seq.slot
        last = self._running.pop()
        if last is not seq:
            self.cache.move(last.slot, i, last.length)
            last.slot = i
            self._running[i] = last
        seq.slot = -1

    def _admit(self, outbox: dict[Sink, list[Event]]) -> None:
        batch: list[Sequence] = []
        with self._cond:
            while self._waiting and len(self._running) + len(batch) < self.max_batch:
                seq = self._waiting[0]
                longest = max([len(seq.prompt), *(len(s.prompt) for s in batch)])
                # The padded batch costs rows x longest prompt; one sequence always goes in.
                if batch and longest * (len(batch) + 1) > self.prefill_tokens:
                    break
                batch.append(self._waiting.popleft())
        if not batch:
            return
        first = len(self._running)
        for i, seq in enumerate(batch):
            seq.slot = first + i
            self._running.append(seq)
            if seq.params.temperature > 0:
                seed = seq.params.seed if seq.params.seed is not None else secrets.randbits(63)
                seq.generator = torch.Generator(device=self.model.device).manual_seed(seed)
        longest = max(len(s.prompt) for s in batch)
        idx = torch.full((len(batch), longest), self.tokenizer.bos, dtype=torch.long)
        for i, seq in enumerate(batch):
            idx[i, : len(seq.prompt)] = torch.tensor(seq.prompt)
        device = self.model.device
        positions = torch.arange(longest, device=device).expand(len(batch), longest)
        last = torch.tensor([len(s.prompt) - 1 for s in batch], device=device)
        try:
            logits = self.model.forward(
                idx.to(device), positions, self.cache, slice(first, first + len(batch)), last
            )
        except Exception as error:
            log.exception("prefill failed")
            for seq in batch:
                self._finish(seq, outbox, error=f"prefill failed: {error}")
            return
        for seq in batch:
            seq.length = len(seq.prompt)
            self.metrics.prompt_tokens.inc(len(seq.prompt))
        self._advance(batch, logits, outbox)

    def _decode(self, outbox: dict[Sink, list[Event]]) -> None:
        running = list(self._running)
        device = self.model.device
        idx = torch.tensor([[s.output[-1]] for s in running], device=device)
        positions = torch.tensor([[s.length] for s in running], device=device)
        zeros = torch.zeros(len(running), dtype=torch.long, device=device)
        logits = self.model.forward(idx, positions, self.cache, slice(0, len(running)), zeros)
        for seq in running:
            seq.length += 1
        self._advance(running, logits, outbox)

    def _advance(
        self, seqs: list[Sequence], logits: torch.Tensor, outbox: dict[Sink, list[Event]]
    ) -> None:
        sampled = sample(logits, seqs).tolist()
        now = time.monotonic()
        for seq, sampled_token in zip(seqs, sampled, strict=True):
            if seq.tool is None:
                seq.tool = Calculator(self.tokenizer)
            token, forced = seq.tool.next(sampled_token)
            seq.output.append(token)
            outbox.setdefault(seq.sink, []).append(Event(token=token, forced=forced))
            if len(seq.output) == 1:
                self.metrics.time_to_first_token.observe(now - seq.arrival)
            else:
                self.metrics.inter_token_latency.observe(now - seq.last_emit)
            seq.last_emit = now
            self.metrics.generated_tokens.inc()
            if not forced and token in self.stop_ids:
                self._finish(seq, outbox, reason="stop")
            elif len(seq.output) >= seq.params.max_tokens or seq.length + 1 > self.max_context:
                self._finish(seq, outbox, reason="length")


class Calculator:
    """nanochat's tool protocol for one sequence.

    The model writes an expression between <|python_start|> and <|python_end|>; the result is then
    forced into the sequence as <|output_start|> result <|output_end|>, each forced token taking
    the place of whatever the model sampled at that step.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.expression: list[int] | None = None
        self.forced: deque[int] = deque()

    def next(self, sampled: int) -> tuple[int, bool]:
        """The token that enters the sequence, and whether it was forced."""
        if self.forced:
            return self.forced.popleft(), True
        tok = self.tokenizer
        if sampled == tok.python_start:
            self.expression = []
        elif sampled == tok.python_end and self.expression is not None:
            result = calculate(tok.decode(self.expression))
            if result is not None:
                self.forced.extend([tok.output_start, *tok.encode(result), tok.output_end])
            self.expression = None
        elif self.expression is not None:
            self.expression.append(sampled)
        return sampled, False


def sample(logits: torch.Tensor, seqs: list[Sequence]) -> torch.Tensor:
    """One token per row: argmax for temperature 0, else temperature, top-k, top-p sampling.

    Each sampled row draws its randomness from its own generator, so a seeded request gives the
    same tokens whatever else is in the batch.
    """
    device = logits.device
    biased = [i for i, s in enumerate(seqs) if s.params.logit_bias]
    if biased:
        logits = logits.clone()
        for i in biased:
            ids, bias = zip(*seqs[i].params.logit_bias, strict=True)
            logits[i, torch.tensor(ids, device=device)] += torch.tensor(bias, device=device)
    tokens = logits.argmax(dim=-1)
    rows = [i for i, s in enumerate(seqs) if s.params.temperature > 0]
    if not rows:
        return tokens.cpu()
    index = torch.tensor(rows, device=device)
    params = [seqs[i].params for i in rows]
    scaled = logits[index] / torch.tensor([p.temperature for p in params], device=device)[:, None]
    vocab = scaled.shape[-1]
    order: torch.Tensor | None = None
    if all(p.top_k is None and p.top_p >= 1.0 for p in params):
        probs = torch.softmax(scaled, dim=-1)
    else:
        ordered, order = scaled.sort(dim=-1, descending=True)
        ranks = torch.arange(vocab, device=device)
        top_k = torch.tensor([min(p.top_k or vocab, vocab) for p in params], device=device)
        cut = ranks[None, :] >= top_k[:, None]
        top_p = torch.tensor([p.top_p for p in params], device=device)
        probs = torch.softmax(ordered.masked_fill(cut, float("-inf")), dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (always at least the first token).
        before = probs.cumsum(dim=-1) - probs
        cut = cut | (before >= top_p[:, None])
        probs = torch.softmax(ordered.masked_fill(cut, float("-inf")), dim=-1)
    for j, i in enumerate(rows):
        # Exponential race: argmax p/E with E ~ Exp(1) draws from p.
        noise = torch.empty(vocab, device=device).exponential_(generator=seqs[i].generator)
        choice = torch.argmax(probs[j] / noise)
        tokens[i] = choice if order is None else order[j, choice]
    return tokens.cpu()
