"""The OpenAI API of a real worker process, through the official `openai` client."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.modelworker.conftest import (
    API_KEY,
    NEVER_STOP_HTTP,
    WorkerProcess,
    get,
    loaded,
    metric,
    reference,
    reference_input,
)

MODEL = "nanochat"
GREETING: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is a ramp of steps in a course?"}
]


@pytest.fixture
def client(api_worker: WorkerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=api_worker.url, api_key=API_KEY, max_retries=0, timeout=60)


@pytest.fixture
def aclient(api_worker: WorkerProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=api_worker.url, api_key=API_KEY, max_retries=0, timeout=60)


def post(worker: WorkerProcess, path: str, body: bytes | dict, key: str | None = API_KEY):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(worker.url + path, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_chat_completion_returns_the_greedy_reference_continuation(
    client: openai.OpenAI,
) -> None:
    tok = loaded("head-mqa")[1]
    for name in ("conv_system", "conv_multiturn", "conv_literal_special"):
        item = reference_input("head-mqa", name)
        reply = client.chat.completions.create(
            model=MODEL,
            messages=item["messages"],
            max_tokens=24,
            temperature=0,
            extra_body={"return_token_ids": True},
        )
        choice = reply.choices[0]
        extra: Any = choice.model_extra
        assert reply.model_extra and reply.model_extra["prompt_token_ids"] == item["token_ids"]
        assert extra["token_ids"] == item["greedy"]["engine_tokens"]
        assert choice.message.role == "assistant"
        assert choice.message.content == tok.decode(
            [t for t in extra["token_ids"] if t not in (tok.assistant_end, tok.bos)]
        )
        assert choice.finish_reason == (
            "stop" if item["greedy"]["engine_stopped_early"] else "length"
        )
        assert reply.usage is not None
        assert reply.usage.prompt_tokens == item["num_tokens"]
        assert reply.usage.completion_tokens == len(item["greedy"]["engine_tokens"])
        assert reply.usage.total_tokens == item["num_tokens"] + len(item["greedy"]["engine_tokens"])


def test_text_completion_returns_the_greedy_reference_continuation(
    client: openai.OpenAI,
) -> None:
    for name in ("raw_short", "raw_medium", "raw_long"):
        item = reference_input("head-mqa", name)
        reply = client.completions.create(
            model=MODEL,
            prompt=item["text"],
            max_tokens=24,
            temperature=0,
            extra_body={"return_token_ids": True},
        )
        extra: Any = reply.choices[0].model_extra
        assert extra["token_ids"] == item["greedy"]["engine_tokens"], name
        if not item["greedy"]["engine_stopped_early"]:
            assert reply.choices[0].text == item["greedy"]["engine_text"]


def test_streamed_chat_equals_the_whole_reply(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=MODEL, messages=GREETING, max_tokens=40, temperature=0
    )
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=GREETING,
            max_tokens=40,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason
    assert all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert len({c.id for c in chunks}) == 1


def test_streamed_text_completion_without_usage_has_no_usage_chunk(
    client: openai.OpenAI,
) -> None:
    chunks = list(
        client.completions.create(
            model=MODEL, prompt="Gradient descent", max_tokens=12, temperature=0, stream=True
        )
    )
    whole = client.completions.create(
        model=MODEL, prompt="Gradient descent", max_tokens=12, temperature=0
    )
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    assert all(c.usage is None for c in chunks)


async def test_async_client_streams_and_completes(aclient: openai.AsyncOpenAI) -> None:
    whole = await aclient.chat.completions.create(
        model=MODEL, messages=GREETING, max_tokens=30, temperature=0
    )
    stream = await aclient.chat.completions.create(
        model=MODEL, messages=GREETING, max_tokens=30, temperature=0, stream=True
    )
    text = ""
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
    assert text == whole.choices[0].message.content


async def test_ten_concurrent_greedy_streams_equal_ten_sequential_ones(
    aclient: openai.AsyncOpenAI,
) -> None:
    prompts: list[list[ChatCompletionMessageParam]] = [
        [{"role": "user", "content": f"Student {i} asks about step {i * 7} of the ramp."}]
        for i in range(10)
    ]

    async def ask(messages: list[ChatCompletionMessageParam]) -> str:
        stream = await aclient.chat.completions.create(
            model=MODEL, messages=messages, max_tokens=48, temperature=0, stream=True
        )
        parts = []
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
        return "".join(parts)

    sequential = [await ask(p) for p in prompts]
    concurrent = await asyncio.gather(*(ask(p) for p in prompts))
    assert list(concurrent) == sequential
    assert len(set(sequential)) > 1


def test_stop_strings_cut_the_reply_before_them(client: openai.OpenAI) -> None:
    full = client.completions.create(model=MODEL, prompt="Tokens", max_tokens=40, temperature=0)
    text = full.choices[0].text
    stop = text[10:13]
    assert len(stop) == 3
    cut = client.completions.create(
        model=MODEL, prompt="Tokens", max_tokens=40, temperature=0, stop=[stop, "never appears"]
    )
    assert cut.choices[0].text == text[: text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    streamed = client.completions.create(
        model=MODEL, prompt="Tokens", max_tokens=40, temperature=0, stop=stop, stream=True
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].text for c in chunks) == text[: text.index(stop)]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_seed_top_k_and_top_p_shape_the_sampling(client: openai.OpenAI) -> None:
    def ask(**kwargs: Any) -> str:
        reply = client.chat.completions.create(
            model=MODEL, messages=GREETING, max_tokens=24, **kwargs
        )
        return reply.choices[0].message.content or ""

    seeded = ask(temperature=1.0, top_p=0.9, seed=7, extra_body={"top_k": 50})
    assert ask(temperature=1.0, top_p=0.9, seed=7, extra_body={"top_k": 50}) == seeded
    assert ask(temperature=1.0, top_p=0.9, seed=8, extra_body={"top_k": 50}) != seeded
    greedy = ask(temperature=0)
    assert ask(temperature=1.3, seed=3, extra_body={"top_k": 1}) == greedy


def test_max_tokens_limits_the_reply(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=GREETING, max_tokens=7, temperature=1.0, logit_bias=NEVER_STOP_HTTP
    )
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 7
    assert reply.choices[0].finish_reason == "length"


def test_logit_bias_bans_a_token(client: openai.OpenAI) -> None:
    def first_token(**kwargs: Any) -> int:
        reply = client.chat.completions.create(
            model=MODEL,
            messages=GREETING,
            max_tokens=1,
            temperature=0,
            extra_body={"return_token_ids": True},
            **kwargs,
        )
        return int((reply.choices[0].model_extra or {})["token_ids"][0])

    banned = first_token()
    assert first_token(logit_bias={str(banned): -100}) != banned


def test_models_lists_the_served_model(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list().data]
    assert ids == [MODEL, "all-MiniLM-L6-v2"]


def test_health_reports_the_model_without_a_key(api_worker: WorkerProcess) -> None:
    status, body = get(api_worker.root + "/health")
    data = json.loads(body)
    assert status == 200
    assert data["status"] == "ok"
    assert (data["model"], data["generation"], data["device"]) == (MODEL, "head", "cpu")
    assert data["max_context"] == reference("head-mqa")["model_config"]["sequence_len"]
    assert data["threads"] == 1  # as asked (--threads=1)


def test_metrics_expose_queue_batch_latency_tokens_and_cache(
    client: openai.OpenAI, api_worker: WorkerProcess
) -> None:
    before = metric(api_worker.url, "modelworker_generated_tokens_total")
    client.chat.completions.create(model=MODEL, messages=GREETING, max_tokens=5, temperature=0)
    status, body = get(api_worker.root + "/metrics")
    text = body.decode()
    assert status == 200
    for name in (
        "modelworker_queue_depth",
        "modelworker_running_sequences",
        "modelworker_time_to_first_token_seconds_bucket",
        "modelworker_inter_token_latency_seconds_bucket",
        "modelworker_generated_tokens_total",
        "modelworker_kv_cache_usage_ratio",
        "modelworker_kv_cache_bytes",
    ):
        assert name in text, name
    assert metric(api_worker.url, "modelworker_generated_tokens_total") >= before + 1
    assert metric(api_worker.url, "modelworker_time_to_first_token_seconds_count") >= 1
    assert metric(api_worker.url, "modelworker_running_sequences") == 0


def test_a_wrong_or_missing_key_is_refused(api_worker: WorkerProcess) -> None:
    wrong = openai.OpenAI(base_url=api_worker.url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        wrong.models.list()
    assert info.value.status_code == 401
    status, body, _ = post(api_worker, "/chat/completions", {"model": MODEL}, key=None)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"


def test_assistant_tool_markers_in_history_become_tool_tokens(client: openai.OpenAI) -> None:
    tok = loaded("head-mqa")[1]
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "2+3?"},
            {"role": "assistant", "content": "<|python_start|>2+3<|python_end|>"},
            {"role": "user", "content": "<|python_start|>"},
        ],
        max_tokens=1,
        extra_body={"return_token_ids": True},
    )
    prompt = (reply.model_extra or {})["prompt_token_ids"]
    assert prompt.count(tok.python_start) == 1
    assert prompt.count(tok.python_end) == 1


# --- bad input --------------------------------------------------------------------------------

CHAT = "/chat/completions"
BAD_INPUTS: list[tuple[str, str, bytes | dict, int, str]] = [
    ("non_json", CHAT, b"{not json", 400, "not valid JSON"),
    ("json_array", CHAT, b"[1, 2]", 400, "must be a JSON object"),
    ("empty_messages", CHAT, {"model": MODEL, "messages": []}, 400, "must not be empty"),
    ("missing_messages", CHAT, {"model": MODEL}, 400, "'messages' is required"),
    (
        "roles_out_of_order",
        CHAT,
        {"model": MODEL, "messages": [{"role": "assistant", "content": "hi"}]},
        400,
        "roles must alternate",
    ),
    (
        "two_user_turns",
        CHAT,
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        },
        400,
        "roles must alternate",
    ),
    ("unknown_model", CHAT, {"model": "gpt-9", "messages": GREETING}, 404, "'gpt-9' does not"),
    ("missing_model", CHAT, {"messages": GREETING}, 400, "'model' is required"),
    (
        "max_tokens_beyond_context",
        CHAT,
        {"model": MODEL, "messages": GREETING, "max_tokens": 100000},
        400,
        "context length is 512 tokens",
    ),
    (
        "prompt_longer_than_context",
        CHAT,
        {"model": MODEL, "messages": [{"role": "user", "content": "word " * 2000}]},
        400,
        "context length is 512",
    ),
    (
        "temperature_as_string",
        CHAT,
        {"model": MODEL, "messages": GREETING, "temperature": "hot"},
        400,
        "'temperature' must be a number, not string",
    ),
    (
        "max_tokens_as_float",
        CHAT,
        {"model": MODEL, "messages": GREETING, "max_tokens": 2.5},
        400,
        "'max_tokens' must be an integer",
    ),
    (
        "zero_max_tokens",
        CHAT,
        {"model": MODEL, "messages": GREETING, "max_tokens": 0},
        400,
        "'max_tokens' must be at least 1",
    ),
    (
        "stream_as_string",
        CHAT,
        {"model": MODEL, "messages": GREETING, "stream": "yes"},
        400,
        "'stream' must be a boolean",
    ),
    (
        "content_as_number",
        CHAT,
        {"model": MODEL, "messages": [{"role": "user", "content": 42}]},
        400,
        "content must be a string",
    ),
    (
        "messages_as_string",
        CHAT,
        {"model": MODEL, "messages": "hello"},
        400,
        "must be an array",
    ),
    (
        "top_p_out_of_range",
        CHAT,
        {"model": MODEL, "messages": GREETING, "top_p": 1.5},
        400,
        "'top_p' must be",
    ),
    (
        "stop_as_number",
        CHAT,
        {"model": MODEL, "messages": GREETING, "stop": 3},
        400,
        "'stop' must be",
    ),
    ("n_above_one", CHAT, {"model": MODEL, "messages": GREETING, "n": 2}, 400, "'n': 1"),
    (
        "stream_options_without_stream",
        CHAT,
        {"model": MODEL, "messages": GREETING, "stream_options": {"include_usage": True}},
        400,
        "only allowed when 'stream' is true",
    ),
    (
        "logit_bias_out_of_vocab",
        CHAT,
        {"model": MODEL, "messages": GREETING, "logit_bias": {"100000": 5}},
        400,
        "'logit_bias' must map",
    ),
    (
        "completion_prompt_as_object",
        "/completions",
        {"model": MODEL, "prompt": {"text": "x"}},
        400,
        "'prompt' must be",
    ),
    (
        "completion_token_out_of_vocab",
        "/completions",
        {"model": MODEL, "prompt": [1, 2, 99999]},
        400,
        "token ids in 'prompt'",
    ),
    (
        "completion_max_tokens_beyond_context",
        "/completions",
        {"model": MODEL, "prompt": "hi", "max_tokens": 600},
        400,
        "context_length_exceeded",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_a_4xx_with_an_openai_error_body(
    api_worker: WorkerProcess, path: str, body: bytes | dict, status: int, message: str
) -> None:
    got, payload, _ = post(api_worker, path, body)
    assert got == status
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert message in error["message"] or message == error["code"], error


def test_the_openai_client_raises_typed_errors_for_bad_input(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[])
    assert "must not be empty" in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="other", messages=GREETING)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=GREETING, max_tokens=10**6)
    assert info.value.code == "context_length_exceeded"


def test_bad_input_never_disturbs_other_students_streams(
    client: openai.OpenAI, api_worker: WorkerProcess
) -> None:
    expected = client.chat.completions.create(
        model=MODEL, messages=GREETING, max_tokens=200, temperature=0
    )
    received: list[str] = []

    def stream() -> None:
        for chunk in client.chat.completions.create(
            model=MODEL, messages=GREETING, max_tokens=200, temperature=0, stream=True
        ):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")

    thread = threading.Thread(target=stream)
    thread.start()
    for _, path, body, status, _ in BAD_INPUTS * 2:
        assert post(api_worker, path, body)[0] == status
    thread.join(timeout=60)
    assert "".join(received) == expected.choices[0].message.content
    assert get(api_worker.root + "/health")[0] == 200
