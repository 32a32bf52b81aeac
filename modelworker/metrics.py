"""Prometheus metrics of one worker process (its own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.queue_depth = Gauge(
            "modelworker_queue_depth", "Sequences waiting for a batch slot", registry=r
        )
        self.running = Gauge(
            "modelworker_running_sequences", "Sequences in the running batch", registry=r
        )
        self.kv_cache_usage = Gauge(
            "modelworker_kv_cache_usage_ratio",
            "Cached positions in use over all positions of the KV cache",
            registry=r,
        )
        self.kv_cache_tokens = Gauge(
            "modelworker_kv_cache_tokens", "Positions held in the KV cache", registry=r
        )
        self.kv_cache_bytes = Gauge(
            "modelworker_kv_cache_bytes", "Size of the allocated KV cache", registry=r
        )
        self.time_to_first_token = Histogram(
            "modelworker_time_to_first_token_seconds",
            "From a request's arrival in the queue to its first token",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inter_token_latency = Histogram(
            "modelworker_inter_token_latency_seconds",
            "Between two consecutive tokens of one sequence",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.generated_tokens = Counter(
            "modelworker_generated_tokens", "Tokens generated", registry=r
        )
        self.prompt_tokens = Counter(
            "modelworker_prompt_tokens", "Prompt tokens prefilled", registry=r
        )
        self.finished = Counter(
            "modelworker_sequences_finished",
            "Sequences that left the batch, by reason (stop, length, cancelled, error)",
            ["reason"],
            registry=r,
        )
        self.embedding_batches = Histogram(
            "modelworker_embedding_batch_texts",
            "Texts embedded together in one forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
            registry=r,
        )
        self.requests = Counter(
            "modelworker_requests",
            "HTTP requests by endpoint and status code",
            ["endpoint", "status"],
            registry=r,
        )
        self.rejected = Counter(
            "modelworker_requests_rejected_queue_full",
            "Requests turned away because the queue was full",
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
