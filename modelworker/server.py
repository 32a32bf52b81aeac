"""The OpenAI-compatible HTTP API.

Every bad input gets a 4xx with an OpenAI-style error body (`{"error": {"message", "type",
"param", "code"}}`); a failure inside one request never reaches other requests or the engine.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import logging
import secrets
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import torch
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from modelworker.embeddings import DIMENSIONS, Batcher, Embedder
from modelworker.engine import Engine, Event, QueueFull, SamplingParams, Sequence
from modelworker.tokenizer import ConversationError

log = logging.getLogger("modelworker.server")

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_STOP_SEQUENCES = 4
RETRY_AFTER_SECONDS = 1


@dataclass
class Worker:
    """What the API serves: one chat model behind its engine, and optionally embeddings."""

    engine: Engine
    model_name: str
    embedder: Embedder | None = None
    embedding_model_name: str = "all-MiniLM-L6-v2"
    api_key: str | None = None
    device: str = "cpu"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


# --- reading request bodies -------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ApiError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
    except ClientDisconnect as error:
        raise ApiError(400, "the client went away while sending the body") from error
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as error:
        raise _invalid(f"the request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object")
    return body


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _number(
    body: dict[str, Any],
    name: str,
    default: float,
    low: float,
    high: float,
    *,
    low_open: bool = False,
) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"'{name}' must be a number, not {_type_name(value)}", name)
    if value < low or value > high or (low_open and value == low):
        bound = f"greater than {low}" if low_open else f"at least {low}"
        raise _invalid(f"'{name}' must be {bound} and at most {high}, not {value}", name)
    return float(value)


def _integer(body: dict[str, Any], name: str, low: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"'{name}' must be an integer, not {_type_name(value)}", name)
    if low is not None and value < low:
        raise _invalid(f"'{name}' must be at least {low}, not {value}", name)
    return value


def _boolean(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"'{name}' must be a boolean, not {_type_name(value)}", name)
    return value


def _stop_strings(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if (
        not isinstance(stop, list)
        or not all(isinstance(s, str) for s in stop)
        or len(stop) > MAX_STOP_SEQUENCES
    ):
        raise _invalid(
            f"'stop' must be a string or an array of at most {MAX_STOP_SEQUENCES} strings", "stop"
        )
    return [s for s in stop if s]


def _logit_bias(worker: Worker, body: dict[str, Any]) -> tuple[tuple[int, float], ...]:
    bias = body.get("logit_bias")
    if bias is None:
        return ()
    n_vocab = worker.engine.tokenizer.n_vocab
    message = f"'logit_bias' must map token ids (0..{n_vocab - 1}) to numbers in -100..100"
    if not isinstance(bias, dict) or len(bias) > 300:
        raise _invalid(message, "logit_bias")
    pairs = []
    for key, value in bias.items():
        if not str(key).isdigit() or int(key) >= n_vocab:
            raise _invalid(message, "logit_bias")
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > 100:
            raise _invalid(message, "logit_bias")
        pairs.append((int(key), float(value)))
    return tuple(pairs)


def _include_usage(body: dict[str, Any], stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise _invalid("'stream_options' must be an object", "stream_options")
    if not stream:
        raise _invalid("'stream_options' is only allowed when 'stream' is true", "stream_options")
    return _boolean(options, "include_usage")


@dataclass
class _Generation:
    prompt: list[int]
    params: SamplingParams
    stop: list[str]
    stream: bool
    include_usage: bool
    return_token_ids: bool


def _generation(worker: Worker, body: dict[str, Any], prompt: list[int]) -> _Generation:
    """Sampling settings shared by chat and text completions, checked against the context."""
    if _integer(body, "n", 1) not in (None, 1):
        raise _invalid("only 'n': 1 is supported", "n")
    if body.get("logprobs") not in (None, False, 0):
        raise _invalid("'logprobs' is not supported", "logprobs")
    if body.get("tools"):
        raise _invalid("'tools' is not supported; the model's own calculator is built in", "tools")
    stream = _boolean(body, "stream")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0, low_open=True)
    top_k = _integer(body, "top_k", 0)
    seed = _integer(body, "seed")
    logit_bias = _logit_bias(worker, body)
    context = worker.engine.max_context
    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    if len(prompt) >= context:
        raise _invalid(
            f"the prompt is {len(prompt)} tokens, and this model's context length is {context} "
            "tokens; shorten the messages",
            "messages",
            "context_length_exceeded",
        )
    if max_tokens is None:
        max_tokens = context - len(prompt)
    elif len(prompt) + max_tokens > context:
        raise _invalid(
            f"this model's context length is {context} tokens, but {len(prompt) + max_tokens} "
            f"were requested ({len(prompt)} in the prompt, {max_tokens} for the completion); "
            "lower max_tokens or shorten the prompt",
            "max_tokens",
            "context_length_exceeded",
        )
    return _Generation(
        prompt=prompt,
        params=SamplingParams(
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k or None,
            seed=seed,
            logit_bias=logit_bias,
        ),
        stop=_stop_strings(body),
        stream=stream,
        include_usage=_include_usage(body, stream),
        return_token_ids=_boolean(body, "return_token_ids"),
    )


def _check_model(worker: Worker, body: dict[str, Any], expected: str) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("'model' is required and must be a string", "model")
    if model != expected:
        raise ApiError(
            404,
            f"the model '{model}' does not exist here; this worker serves '{expected}'",
            param="model",
            code="model_not_found",
        )
    return model


# --- turning engine events into text ------------------------------------------------------------


class _TextAssembler:
    """Bytes of generated tokens to text, holding back what might still become a stop string.

    Tokens that are not valid UTF-8 on their own wait for the bytes that complete them; what stays
    invalid is replaced, as nanochat decodes. Stop tokens end the sequence and produce no text.
    """

    def __init__(self, worker: Worker, stop: list[str]) -> None:
        self.tokenizer = worker.engine.tokenizer
        self.stop_ids = worker.engine.stop_ids
        self.stop = stop
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, token: int | None, final: bool = False) -> str:
        if token is not None and token not in self.stop_ids:
            self.text += self.decoder.decode(self.tokenizer.token_bytes(token))
        if final:
            self.text += self.decoder.decode(b"", final=True)
        found = [at for at in (self.text.find(s, self.emitted) for s in self.stop) if at != -1]
        if found:
            self.text = self.text[: min(found)]
            self.stopped = True
            final = True
        end = len(self.text)
        if not final:
            for s in self.stop:
                # Hold back the longest tail that could still grow into this stop string.
                for n in range(min(len(s) - 1, end - self.emitted), 0, -1):
                    if self.text.endswith(s[:n]):
                        end = min(end, len(self.text) - n)
                        break
        delta = self.text[self.emitted : end]
        self.emitted = max(self.emitted, end)
        return delta


class _Stream:
    """One submitted sequence, seen from the event loop."""

    def __init__(self, worker: Worker, gen: _Generation) -> None:
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[list[Event]] = asyncio.Queue()
        self.engine = worker.engine

        def sink(events: list[Event]) -> None:
            loop.call_soon_threadsafe(self.queue.put_nowait, events)

        try:
            self.seq: Sequence = worker.engine.submit(gen.prompt, gen.params, sink)
        except QueueFull as error:
            worker.engine.metrics.rejected.inc()
            raise ApiError(
                503,
                "the worker's queue is full; retry after a moment",
                kind="server_error",
                code="overloaded",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from error

    async def batches(self) -> AsyncIterator[list[Event]]:
        while True:
            batch = await self.queue.get()
            yield batch
            if any(e.finish_reason or e.error for e in batch):
                return

    def cancel(self) -> None:
        self.engine.cancel(self.seq)


@dataclass
class _Piece:
    text: str
    token_ids: list[int]
    finish_reason: str | None = None
    error: str | None = None


async def _pieces(worker: Worker, gen: _Generation, stream: _Stream) -> AsyncIterator[_Piece]:
    """Text deltas of one sequence, ending with a piece that carries the finish reason."""
    text = _TextAssembler(worker, gen.stop)
    ids: list[int] = []
    delta = ""
    try:
        async for batch in stream.batches():
            for event in batch:
                if event.error:
                    yield _Piece(delta, ids, error=event.error)
                    return
                if event.token is not None:
                    ids.append(event.token)
                    delta += text.feed(event.token)
                    if text.stopped:
                        stream.cancel()
                        yield _Piece(delta, ids, finish_reason="stop")
                        return
                if event.finish_reason:
                    delta += text.feed(None, final=True)
                    reason = "length" if event.finish_reason == "length" else "stop"
                    yield _Piece(delta, ids, finish_reason=reason)
                    return
            # Tokens that add no text yet (a split UTF-8 character, a held-back stop prefix)
            # travel with the next piece.
            if delta or (ids and gen.return_token_ids):
                yield _Piece(delta, ids)
                ids, delta = [], ""
    finally:
        # Reached on normal ends too, where cancelling a finished sequence does nothing.
        stream.cancel()


async def _until_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _collect(
    request: Request, worker: Worker, gen: _Generation
) -> tuple[str, list[int], str]:
    """Run a non-streaming generation; a client that leaves cancels it."""
    stream = _Stream(worker, gen)

    async def run() -> tuple[str, list[int], str]:
        text, ids, reason = "", [], "stop"
        async for piece in _pieces(worker, gen, stream):
            if piece.error:
                raise ApiError(500, piece.error, kind="server_error")
            text += piece.text
            ids += piece.token_ids
            reason = piece.finish_reason or reason
        return text, ids, reason

    work = asyncio.ensure_future(run())
    gone = asyncio.ensure_future(_until_disconnect(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not work.done():
            stream.cancel()
            work.cancel()
    if work.cancelled():
        raise ApiError(499, "the client disconnected")
    return work.result()


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def _streaming_response(
    worker: Worker,
    gen: _Generation,
    chunk: Callable[[str, str | None, list[int]], dict[str, Any]],
    first: dict[str, Any] | None,
    usage_chunk: Callable[[dict[str, int]], dict[str, Any]],
) -> StreamingResponse:
    stream = _Stream(worker, gen)

    async def body() -> AsyncIterator[bytes]:
        completion = 0
        try:
            if first is not None:
                yield _sse(first)
            async for piece in _pieces(worker, gen, stream):
                completion += len(piece.token_ids)
                if piece.error:
                    yield _sse(ApiError(500, piece.error, kind="server_error").body())
                    return
                yield _sse(chunk(piece.text, piece.finish_reason, piece.token_ids))
            if gen.include_usage:
                yield _sse(usage_chunk(_usage(len(gen.prompt), completion)))
            yield _sse("[DONE]")
        finally:
            # A client that disconnects closes this generator: its sequence leaves the batch.
            stream.cancel()

    return _SequenceResponse(
        stream,
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class _SequenceResponse(StreamingResponse):
    """A streamed reply that cancels its sequence however the response ends.

    The body's own `finally` covers a client leaving mid-stream; this covers a client that left
    before the body ever started.
    """

    def __init__(self, stream: _Stream, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.cancel()


# --- endpoints ----------------------------------------------------------------------------------


def _worker(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    return worker


async def chat_completions(request: Request) -> Response:
    worker = _worker(request)
    body = await _json_body(request)
    model = _check_model(worker, body, worker.model_name)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _invalid("'messages' is required and must be an array", "messages")
    try:
        prompt = worker.engine.tokenizer.render_for_completion(messages)
    except ConversationError as error:
        raise _invalid(str(error), error.param) from error
    gen = _generation(worker, body, prompt)
    created = int(time.time())
    response_id = "chatcmpl-" + secrets.token_hex(12)

    def chunk(text: str, finish: str | None, ids: list[int]) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "delta": {"content": text} if text else {},
            "logprobs": None,
            "finish_reason": finish,
        }
        if gen.return_token_ids:
            choice["token_ids"] = ids
        return {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }

    if gen.stream:
        first = chunk("", None, [])
        first["choices"][0]["delta"] = {"role": "assistant", "content": ""}
        return _streaming_response(
            worker,
            gen,
            chunk,
            first,
            lambda usage: {
                "id": response_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            },
        )
    text, ids, reason = await _collect(request, worker, gen)
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "logprobs": None,
        "finish_reason": reason,
    }
    result: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": _usage(len(prompt), len(ids)),
    }
    if gen.return_token_ids:
        choice["token_ids"] = ids
        result["prompt_token_ids"] = prompt
    return JSONResponse(result)


def _completion_prompt(worker: Worker, body: dict[str, Any]) -> list[int]:
    prompt = body.get("prompt")
    tok = worker.engine.tokenizer
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return tok.encode_text_prompt(prompt)
    if (
        isinstance(prompt, list)
        and prompt
        and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt)
    ):
        if not all(0 <= t < tok.n_vocab for t in prompt):
            raise _invalid(f"token ids in 'prompt' must be in 0..{tok.n_vocab - 1}", "prompt")
        return list(prompt)
    raise _invalid(
        "'prompt' must be a non-empty string or array of token ids (one prompt per request)",
        "prompt",
    )


async def completions(request: Request) -> Response:
    worker = _worker(request)
    body = await _json_body(request)
    model = _check_model(worker, body, worker.model_name)
    if _boolean(body, "echo"):
        raise _invalid("'echo' is not supported", "echo")
    if body.get("suffix") is not None:
        raise _invalid("'suffix' is not supported", "suffix")
    prompt = _completion_prompt(worker, body)
    gen = _generation(worker, body, prompt)
    created = int(time.time())
    response_id = "cmpl-" + secrets.token_hex(12)

    def chunk(text: str, finish: str | None, ids: list[int]) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "text": text,
            "logprobs": None,
            "finish_reason": finish,
        }
        if gen.return_token_ids:
            choice["token_ids"] = ids
        return {
            "id": response_id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [choice],
        }

    if gen.stream:
        return _streaming_response(
            worker,
            gen,
            chunk,
            None,
            lambda usage: {
                "id": response_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            },
        )
    text, ids, reason = await _collect(request, worker, gen)
    result = chunk(text, reason, ids)
    result["usage"] = _usage(len(prompt), len(ids))
    if gen.return_token_ids:
        result["prompt_token_ids"] = prompt
    return JSONResponse(result)


async def embeddings(request: Request) -> Response:
    worker = _worker(request)
    body = await _json_body(request)
    embedder = worker.embedder
    if embedder is None:
        raise ApiError(
            404, "embeddings are switched off on this worker", param="model", code="model_not_found"
        )
    model = _check_model(worker, body, worker.embedding_model_name)
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if (
        not isinstance(texts, list)
        or not texts
        or not all(isinstance(t, str) and t for t in texts)
        or len(texts) > 2048
    ):
        raise _invalid(
            "'input' must be a non-empty string or an array of up to 2048 non-empty strings",
            "input",
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise _invalid("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    dimensions = _integer(body, "dimensions", 1)
    if dimensions not in (None, DIMENSIONS):
        raise _invalid(f"this model has {DIMENSIONS} dimensions only", "dimensions")
    if not embedder.ready.is_set():
        await asyncio.to_thread(embedder.ready.wait, 300)
    if embedder.state != "ready":
        raise ApiError(503, embedder.error or "the embedding model is still loading",
                       kind="server_error", headers={"Retry-After": "5"})  # fmt: skip
    vectors, tokens = await request.app.state.embedding_batcher.embed(texts)
    data = []
    for i, vector in enumerate(vectors):
        value: list[float] | str = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


async def models(request: Request) -> Response:
    worker = _worker(request)
    created = int(request.app.state.started)
    data = [{"id": worker.model_name, "object": "model", "created": created, "owned_by": "eureka"}]
    if worker.embedder is not None:
        data.append(
            {
                "id": worker.embedding_model_name,
                "object": "model",
                "created": created,
                "owned_by": "sentence-transformers",
            }
        )
    return JSONResponse({"object": "list", "data": data})


async def health(request: Request) -> Response:
    worker = _worker(request)
    engine = worker.engine
    body = {
        "status": "ok" if engine.alive else "engine stopped",
        "model": worker.model_name,
        "generation": engine.model.arch.generation,
        "device": worker.device,
        "max_context": engine.max_context,
        "max_batch": engine.max_batch,
        "threads": torch.get_num_threads(),
        "embeddings": worker.embedder.state if worker.embedder else "off",
    }
    return JSONResponse(body, status_code=200 if engine.alive else 503)


async def metrics(request: Request) -> Response:
    return Response(_worker(request).engine.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


Endpoint = Callable[[Request], Awaitable[Response]]


def _endpoint(name: str, handler: Endpoint) -> Endpoint:
    async def wrapped(request: Request) -> Response:
        try:
            response = await handler(request)
        except ApiError as error:
            response = error.response()
        except Exception:
            log.exception("unhandled error in %s", name)
            response = ApiError(500, "internal error", kind="server_error").response()
        _worker(request).engine.metrics.requests.labels(
            endpoint=name, status=str(response.status_code)
        ).inc()
        return response

    return wrapped


class _Auth:
    """Requires `Authorization: Bearer <key>` on /v1/ when a key is configured.

    /health and /metrics stay open for the orchestrator's probes and the scraper.
    """

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key and scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = dict(scope["headers"])
            given = headers.get(b"authorization", b"").decode("latin-1")
            token = given[7:] if given.lower().startswith("bearer ") else ""
            if not secrets.compare_digest(token.encode(), self.key.encode()):
                error = ApiError(
                    401,
                    "missing or incorrect API key; send 'Authorization: Bearer <key>'",
                    code="invalid_api_key",
                )
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _not_found(request: Request, exc: Exception) -> Response:
    return ApiError(404, f"no route {request.method} {request.url.path}").response()


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return ApiError(405, f"{request.method} is not allowed on {request.url.path}").response()


def create_app(worker: Worker) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not worker.engine.alive:
            worker.engine.start()
        if worker.embedder is not None and not worker.embedder.ready.is_set():
            worker.embedder.load_in_background()
        yield
        worker.engine.stop()

    routes = [
        Route("/v1/chat/completions", _endpoint("chat", chat_completions), methods=["POST"]),
        Route("/v1/completions", _endpoint("completions", completions), methods=["POST"]),
        Route("/v1/embeddings", _endpoint("embeddings", embeddings), methods=["POST"]),
        Route("/v1/models", _endpoint("models", models), methods=["GET"]),
        Route("/health", _endpoint("health", health), methods=["GET"]),
        Route("/metrics", _endpoint("metrics", metrics), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    app.state.worker = worker
    app.state.started = time.time()
    if worker.embedder is not None:
        app.state.embedding_batcher = Batcher(
            worker.embedder, on_batch=worker.engine.metrics.embedding_batches.observe
        )
    return _Auth(app, worker.api_key)
