"""The one door to the model worker (or any OpenAI-compatible server), through the `openai` client.

Settings are read when a client is made, not at import.
"""

from __future__ import annotations

import asyncio
import threading
import weakref

import openai
from django.conf import settings


class ModelUnavailable(Exception):
    """The model server could not be reached or answered with an error."""


_clients: dict[tuple[str, str, float, int], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def get_client(*, timeout: float | None = None, max_retries: int = 2) -> openai.OpenAI:
    """A client for the configured server, made once per setting and shared (it is thread-safe
    and keeps its connections open): making one costs milliseconds a student would wait."""
    key = (
        str(settings.EUREKA_MODEL_BASE_URL),
        str(settings.EUREKA_MODEL_API_KEY),
        float(timeout if timeout is not None else settings.EUREKA_MODEL_TIMEOUT),
        max_retries,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = openai.OpenAI(
                base_url=key[0], api_key=key[1], timeout=key[2], max_retries=max_retries
            )
    return client


_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str], openai.AsyncOpenAI]
]
_async_clients = weakref.WeakKeyDictionary()


def shared_async_client() -> openai.AsyncOpenAI:
    """The async client of the running event loop for the configured server, kept between
    calls (one HTTP connection pool per loop: a new client per call would open a new connection
    each time). No retries; callers give a timeout per request where theirs differs."""
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    key = (str(settings.EUREKA_MODEL_BASE_URL), str(settings.EUREKA_MODEL_API_KEY))
    if key not in per_loop:
        per_loop[key] = get_async_client(timeout=settings.EUREKA_MODEL_TIMEOUT, max_retries=0)
    return per_loop[key]


def chat_model_name(client: openai.OpenAI) -> str:
    """The configured chat model, else the first non-embedding model the server lists."""
    if settings.EUREKA_CHAT_MODEL:
        return str(settings.EUREKA_CHAT_MODEL)
    for model in client.models.list().data:
        if model.id != settings.EUREKA_EMBEDDING_MODEL:
            return model.id
    raise ModelUnavailable("the model server lists no chat model")


def list_models(*, timeout: float = 2.0) -> list[str]:
    """IDs of the models the server offers; raises ModelUnavailable."""
    try:
        page = get_client(timeout=timeout, max_retries=0).models.list()
        return [model.id for model in page.data]
    except openai.OpenAIError as error:
        raise ModelUnavailable(str(error)) from error


def embed(texts: list[str], *, timeout: float = 30.0) -> list[list[float]]:
    """Embeddings of the texts (unit-length, 384 numbers each from our worker), in order;
    raises ModelUnavailable."""
    from django.conf import settings as django_settings

    try:
        result = get_client(timeout=timeout, max_retries=1).embeddings.create(
            model=django_settings.EUREKA_EMBEDDING_MODEL, input=texts
        )
    except openai.OpenAIError as error:
        raise ModelUnavailable(str(error)) from error
    return [item.embedding for item in sorted(result.data, key=lambda d: d.index)]


def get_async_client(*, timeout: float | None = None, max_retries: int = 2) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=settings.EUREKA_MODEL_BASE_URL,
        api_key=settings.EUREKA_MODEL_API_KEY,
        timeout=timeout if timeout is not None else settings.EUREKA_MODEL_TIMEOUT,
        max_retries=max_retries,
    )


def complete(
    prompt: str, *, max_tokens: int, timeout: float = 20.0, max_retries: int = 0
) -> str | None:
    """One non-streaming chat completion at temperature 0: the reply's text, or None when the
    model is unreachable or answers with an error."""
    try:
        client = get_client(timeout=timeout, max_retries=max_retries)
        model = chat_model_name(client)
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=max_tokens,
            temperature=0.0,
        )
    except (openai.OpenAIError, ModelUnavailable):
        return None
    return (reply.choices[0].message.content or "").strip() if reply.choices else ""


def grade(prompt: str, *, timeout: float = 20.0) -> dict[str, object] | None:
    """Ask the chat model for a JSON verdict; None when it is unreachable or its reply is not a
    JSON object (the caller then hands the case to a human, never guesses)."""
    import json

    text = complete(
        prompt, max_tokens=settings.EUREKA_TA_MAX_TOKENS, timeout=timeout, max_retries=1
    )
    if not text:
        return None
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        parsed = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
