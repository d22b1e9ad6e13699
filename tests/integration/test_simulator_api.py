"""The simulator speaks the Azure v1 API as the real `openai` SDK reads it: Responses and Chat Completions.

The simulator runs as a real process on loopback; every assertion is about what the SDK (or plain
HTTP, for what the SDK does not expose) got over the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from dev.simulator import tokenize
from tests.harness import Simulator, start_simulator, stop

KEY = "sim-api-key"
MODEL = "chat-deployment"
REPLY = "Grüße 👋🏽 from 東京 → naïve café, emoji 🚀✨ and a newline\nat the end."
REASONING = "**Reading the question**\n\nThe user wants a greeting.\n\n**Answering**\n\nKeep it short."
PARTS = ["**Reading the question**\n\nThe user wants a greeting.", "**Answering**\n\nKeep it short."]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    started = start_simulator("--ttft-ms", "5", "--token-ms", "1", "--tokens", "20", "--api-key", KEY)
    yield started
    stop(started.process)


@pytest.fixture(scope="module")
async def azure(sim: Simulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/openai/v1/", api_key=KEY, max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
async def local(sim: Simulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/v1/", api_key=KEY, max_retries=0) as client:
        yield client


async def events_of(stream: Any) -> list[Any]:
    return [event async for event in stream]


async def read_into(received: list[Any], stream: Any) -> None:
    """Read a stream that is meant to fail, keeping what arrived before it did."""
    async for event in stream:
        received.append(event)


def of_type(events: list[Any], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


def text_of(events: list[Any], kind: str = "response.output_text.delta") -> str:
    return "".join(e.delta for e in of_type(events, kind))


def chat(marker: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": marker}], **extra}


def call(client: openai.AsyncOpenAI, api: str, marker: str) -> Any:
    """A streamed call on either API, for the tests that hold for both."""
    if api == "responses":
        return client.responses.create(model=MODEL, input=marker, stream=True)
    return client.chat.completions.create(**chat(marker), stream=True)


def is_text(event: Any) -> bool:
    if getattr(event, "type", None) == "response.output_text.delta":
        return True
    return bool(getattr(event, "choices", None) and event.choices[0].delta.content)


# --- Responses API, streamed -------------------------------------------------------------------------


async def test_responses_stream_the_exact_text_after_the_reasoning_summary(sim: Simulator, azure):
    marker = sim.rule(reply=REPLY, reasoning=REASONING)
    stream = await azure.responses.create(
        model=MODEL, input=f"hello {marker}", reasoning={"effort": "low", "summary": "auto"}, store=False, stream=True
    )
    events = await events_of(stream)

    assert [e.sequence_number for e in events] == list(range(len(events)))
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
    ]
    assert events[2].item.type == "reasoning" and events[2].item.summary == []
    last_summary = max(i for i, t in enumerate(types) if t == "response.reasoning_summary_text.delta")
    first_text = types.index("response.output_text.delta")
    assert types[last_summary + 1 : first_text] == [
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
    ]
    last_text = max(i for i, t in enumerate(types) if t == "response.output_text.delta")
    assert set(types[first_text : last_text + 1]) == {"response.output_text.delta"}
    assert types[last_text + 1 :] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    # The summary, part by part (a new part at each bold heading), all before the answer.
    deltas = of_type(events, "response.reasoning_summary_text.delta")
    assert ["".join(d.delta for d in deltas if d.summary_index == i) for i in (0, 1)] == PARTS
    assert [e.text for e in of_type(events, "response.reasoning_summary_text.done")] == PARTS
    assert of_type(events, "response.reasoning_summary_part.added")[1].summary_index == 1
    # The answer: exact text, obfuscation padding on every delta, in the second output item.
    text_deltas = of_type(events, "response.output_text.delta")
    assert text_of(events) == REPLY == of_type(events, "response.output_text.done")[0].text
    assert all(d.output_index == 1 and d.content_index == 0 and d.obfuscation for d in text_deltas)
    completed = events[-1].response
    assert completed.status == "completed" and completed.model.startswith("gpt-5")
    assert [item.type for item in completed.output] == ["reasoning", "message"]
    usage = completed.usage
    record = sim.record(marker)
    assert usage.output_tokens_details.reasoning_tokens == record["reasoning_tokens"] == len(deltas)
    assert usage.output_tokens == len(deltas) + len(text_deltas) == len(deltas) + len(tokenize(REPLY))
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens and usage.input_tokens > 0
    assert usage.input_tokens_details.cached_tokens == 0
    assert record["api"] == "responses" and record["path"] == "/openai/v1/responses"
    assert record["auth"] == "bearer" and record["deployment"] == MODEL
    assert record["body"]["store"] is False and record["stream"] is True
    assert record["reasoning_sent"] == len(deltas) and record["tokens_sent"] == len(text_deltas)
    assert record["finished"] and not record["closed_early"] and record["ending"] == "stop"
    assert record["usage"] == usage.model_dump(exclude_none=True)


async def test_the_sdk_stream_helper_assembles_the_same_response(sim: Simulator, azure):
    """`responses.stream` checks output identities and ordering; it must accept the stream as the service's."""
    marker = sim.rule(reply=REPLY, reasoning=REASONING)
    async with azure.responses.stream(model=MODEL, input=marker, reasoning={"summary": "detailed"}) as stream:
        final = await stream.get_final_response()
    assert final.output_text == REPLY
    assert [s.text for s in final.output[0].summary] == PARTS


async def test_reasoning_is_counted_but_not_streamed_unless_a_summary_is_asked_for(sim: Simulator, azure):
    marker = sim.rule(reply="short answer", reasoning=REASONING, reasoning_tokens=300)
    events = await events_of(await azure.responses.create(model=MODEL, input=marker, stream=True))
    assert not [e for e in events if e.type.startswith("response.reasoning_summary")]
    reasoning_items = [e.item for e in of_type(events, "response.output_item.done") if e.item.type == "reasoning"]
    assert [item.summary for item in reasoning_items] == [[]]
    assert text_of(events) == "short answer"
    assert events[-1].response.usage.output_tokens_details.reasoning_tokens == 300
    assert events[-1].response.usage.output_tokens == 300 + len(tokenize("short answer"))
    assert sim.record(marker)["reasoning_sent"] == 0


async def test_without_reasoning_there_is_only_the_message_item(sim: Simulator, azure):
    marker = sim.rule(tokens=7)
    events = await events_of(await azure.responses.create(model=MODEL, input=marker, stream=True))
    assert [e.item.type for e in of_type(events, "response.output_item.added")] == ["message"]
    assert of_type(events, "response.output_text.delta")[0].output_index == 0
    assert events[-1].response.usage.output_tokens == 7 == sim.record(marker)["tokens_sent"]
    assert events[-1].response.usage.output_tokens_details.reasoning_tokens == 0


async def test_rules_match_the_last_user_message_in_any_input_form(sim: Simulator, azure):
    marker = sim.rule(reply="matched")
    forms: list[Any] = [
        marker,
        [{"role": "user", "content": marker}],
        [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"see {marker}"}]}],
        [
            {"role": "user", "content": "first question"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "an answer"}]},
            {"role": "user", "content": [{"type": "input_text", "text": marker}]},
        ],
    ]
    for form in forms:
        response = await azure.responses.create(model=MODEL, input=form, instructions="Be brief.")
        assert response.output_text == "matched", form
    unmatched = [{"role": "user", "content": marker}, {"role": "user", "content": "something else"}]
    assert (await azure.responses.create(model=MODEL, input=unmatched)).output_text != "matched"
    assert len(sim.records(marker)) == len(forms) + 1  # found through `input`, not only `messages`


async def test_a_refusal_streams_as_refusal_events_instead_of_text(sim: Simulator, azure):
    marker = sim.rule(refusal="I can't help with that.")
    events = await events_of(await azure.responses.create(model=MODEL, input=marker, stream=True))
    assert not of_type(events, "response.output_text.delta")
    assert text_of(events, "response.refusal.delta") == "I can't help with that."
    assert of_type(events, "response.content_part.added")[0].part.type == "refusal"
    assert events[-1].type == "response.completed"
    assert events[-1].response.output[0].content[0].refusal == "I can't help with that."


async def test_a_non_streamed_response_is_the_response_object(sim: Simulator, azure):
    marker = sim.rule(reply=REPLY, reasoning=REASONING)
    raw = await azure.responses.with_raw_response.create(model=MODEL, input=marker, reasoning={"summary": "auto"})
    body = raw.http_response.json()
    assert "output_text" not in body  # an SDK convenience, not part of the REST body
    assert body["object"] == "response" and body["status"] == "completed"
    reasoning, message = body["output"]
    assert [s["text"] for s in reasoning["summary"]] == PARTS
    assert message["type"] == "message" and message["status"] == "completed"
    assert message["content"] == [{"type": "output_text", "annotations": [], "logprobs": [], "text": REPLY}]
    response = raw.parse()
    assert response.output_text == REPLY
    record = sim.record(marker)
    assert response.usage.output_tokens == record["usage"]["output_tokens"] and record["stream"] is False


# --- Output-token caps and mid-stream endings --------------------------------------------------------


async def test_max_output_tokens_cuts_the_answer_where_reasoning_plus_text_reach_it(sim: Simulator, azure):
    marker = sim.rule(tokens=40, reasoning_tokens=10)
    events = await events_of(await azure.responses.create(model=MODEL, input=marker, max_output_tokens=20, stream=True))
    record = sim.record(marker)
    assert text_of(events) == "".join(tokenize(record["reply"])[:10])
    final = events[-1]
    assert final.type == "response.incomplete" and final.response.status == "incomplete"
    assert final.response.incomplete_details.reason == "max_output_tokens"
    assert final.response.usage.output_tokens == 20
    assert final.response.usage.output_tokens_details.reasoning_tokens == 10
    assert of_type(events, "response.output_item.done")[-1].item.status == "incomplete"
    assert record["max_output_tokens"] == 20 and record["ending"] == "length" and record["finished"]


async def test_reasoning_that_uses_up_the_cap_leaves_no_answer(sim: Simulator, azure):
    marker = sim.rule(tokens=10, reasoning=REASONING, reasoning_tokens=64)
    stream = await azure.responses.create(
        model=MODEL, input=marker, max_output_tokens=16, reasoning={"summary": "auto"}, stream=True
    )
    events = await events_of(stream)
    assert [e.item.type for e in of_type(events, "response.output_item.added")] == ["reasoning"]
    assert not of_type(events, "response.output_text.delta")
    usage = events[-1].response.usage
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert usage.output_tokens == usage.output_tokens_details.reasoning_tokens == 16


async def test_an_answer_that_fits_the_cap_exactly_completes(sim: Simulator, azure):
    marker = sim.rule(tokens=16)
    response = await azure.responses.create(model=MODEL, input=marker, max_output_tokens=16)
    assert response.status == "completed" and response.usage.output_tokens == 16


@pytest.mark.parametrize(("fault", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
async def test_faults_that_end_the_answer_as_incomplete(sim: Simulator, azure, fault, reason):
    marker = sim.rule(reply="one two six ten red sky", fault=fault, fault_after=3)
    events = await events_of(await azure.responses.create(model=MODEL, input=marker, stream=True))
    assert text_of(events) == "one two six"
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == reason
    assert events[-1].response.usage.output_tokens == 3
    response = await azure.responses.create(model=MODEL, input=marker)  # not streamed: the same cut
    assert (response.status, response.incomplete_details.reason, response.output_text) == (
        "incomplete",
        reason,
        "one two six",
    )


async def test_failed_ends_with_response_failed(sim: Simulator, azure):
    marker = sim.rule(reply="red fox ran far", fault="failed", fault_after=2)
    events = await events_of(await azure.responses.create(model=MODEL, input=marker, stream=True))
    assert text_of(events) == "red fox"
    assert events[-1].type == "response.failed" and events[-1].response.status == "failed"
    assert events[-1].response.error.code == "server_error" and events[-1].response.error.message
    assert not of_type(events, "response.completed")
    assert not sim.record(marker)["finished"]


async def test_error_event_ends_the_stream_with_an_error_event(sim: Simulator, azure):
    marker = sim.rule(reply="red fox ran far", fault="error_event", fault_after=2)
    events = await events_of(await azure.responses.create(model=MODEL, input=marker, stream=True))
    assert text_of(events) == "red fox"
    error = events[-1]
    assert error.type == "error" and error.code == "server_error" and error.message and error.param is None
    assert error.sequence_number == events[-2].sequence_number + 1
    with pytest.raises(openai.InternalServerError):  # not streamed: a 500
        await azure.responses.create(model=MODEL, input=marker)


async def test_a_stall_goes_silent_then_finishes_the_text(sim: Simulator, azure):
    marker = sim.rule(reply="now and then", fault="stall", fault_after=1, stall_ms=50)
    events = await events_of(await azure.responses.create(model=MODEL, input=marker, stream=True))
    assert text_of(events) == "now and then"
    assert events[-1].type == "response.completed"


# --- Chat Completions on the v1 paths ----------------------------------------------------------------


async def test_azure_chat_completions_v1_stream(sim: Simulator, azure):
    marker = sim.rule(reply=REPLY, reasoning=REASONING, reasoning_tokens=128)
    stream = await azure.chat.completions.create(
        **chat(marker, max_completion_tokens=4096), stream=True, stream_options={"include_usage": True}
    )
    chunks = await events_of(stream)
    assert chunks[0].choices == [] and chunks[0].model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    assert chunks[1].choices[0].delta.role == "assistant" and chunks[1].choices[0].delta.content == ""
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(c.choices[0].delta.content for c in content) == REPLY
    assert all(c.choices[0].model_extra["content_filter_results"]["hate"]["filtered"] is False for c in content)
    assert all(c.obfuscation for c in chunks[1:])
    # Azure never streams reasoning on Chat Completions; it is only counted.
    assert not [c for c in chunks if c.choices and (c.choices[0].delta.model_extra or {}).get("reasoning_content")]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens_details.reasoning_tokens == 128
    assert chunks[-1].usage.completion_tokens == 128 + len(content)
    assert chunks[-1].model.startswith("gpt-5")
    record = sim.record(marker)
    assert record["api"] == "chat_completions" and record["path"] == "/openai/v1/chat/completions"
    assert record["reasoning_sent"] == 0 and record["max_output_tokens"] == 4096


async def test_local_chat_completions_stream_reasoning_content_first(sim: Simulator, local):
    marker = sim.rule(reply="Hello there!", reasoning=REASONING)
    stream = await local.chat.completions.create(**chat(marker), stream=True, stream_options={"include_usage": True})
    chunks = await events_of(stream)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = [d.model_extra["reasoning_content"] for d in deltas if (d.model_extra or {}).get("reasoning_content")]
    assert "".join(reasoning) == REASONING
    first_content = next(i for i, d in enumerate(deltas) if d.content)
    assert not any(d.content for d in deltas[:first_content])
    assert first_content > max(i for i, d in enumerate(deltas) if (d.model_extra or {}).get("reasoning_content"))
    assert "".join(d.content or "" for d in deltas) == "Hello there!"
    assert "prompt_filter_results" not in (chunks[0].model_extra or {})  # a local server has no Azure filters
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == len(reasoning)
    assert sim.record(marker)["reasoning_sent"] == len(reasoning)


async def test_max_completion_tokens_ends_chat_with_finish_length(sim: Simulator, azure):
    marker = sim.rule(tokens=30, reasoning_tokens=5)
    stream = await azure.chat.completions.create(
        **chat(marker, max_completion_tokens=12), stream=True, stream_options={"include_usage": True}
    )
    chunks = await events_of(stream)
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) == 7
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert chunks[-1].usage.completion_tokens == 12
    completion = await azure.chat.completions.create(**chat(marker, max_tokens=12))
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "".join(content)


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_obfuscation_is_left_out_when_the_request_says_so(sim: Simulator, azure, api):
    marker = sim.rule(tokens=5)
    options = {"include_obfuscation": False, **({"include_usage": True} if api == "chat_completions" else {})}
    if api == "responses":
        stream = await azure.responses.create(model=MODEL, input=marker, stream=True, stream_options=options)
    else:
        stream = await azure.chat.completions.create(**chat(marker), stream=True, stream_options=options)
    events = await events_of(stream)
    assert sum(map(is_text, events)) == 5
    assert all(getattr(e, "obfuscation", None) is None for e in events)


@pytest.mark.parametrize("fault", ["content_filter", "length"])
async def test_chat_faults_that_set_the_finish_reason(sim: Simulator, azure, fault):
    marker = sim.rule(reply="one two six ten", fault=fault, fault_after=2)
    chunks = await events_of(await azure.chat.completions.create(**chat(marker), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [fault]


@pytest.mark.parametrize("fault", ["error_event", "failed"])
async def test_chat_error_lines_raise_mid_stream(sim: Simulator, azure, fault):
    marker = sim.rule(reply="red fox ran far", fault=fault, fault_after=2)
    received: list[Any] = []
    stream = await azure.chat.completions.create(**chat(marker), stream=True)
    with pytest.raises(openai.APIError, match="server had an error"):
        await read_into(received, stream)
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "red fox"


async def test_a_chat_refusal_streams_as_delta_refusal(sim: Simulator, azure):
    marker = sim.rule(refusal="I can't help with that.")
    chunks = await events_of(await azure.chat.completions.create(**chat(marker), stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.refusal or "" for d in deltas) == "I can't help with that."
    assert not any(d.content for d in deltas)
    completion = await azure.chat.completions.create(**chat(marker))
    assert completion.choices[0].message.refusal == "I can't help with that."


# --- Faults before the answer, as SDK exceptions, on both APIs ---------------------------------------


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_rate_limit_is_a_rate_limit_error_with_retry_headers(sim: Simulator, azure, api):
    marker = sim.rule(fault="429", retry_after=7)
    with pytest.raises(openai.RateLimitError) as caught:
        await call(azure, api, marker)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.headers["retry-after-ms"] == "7000"
    assert sim.record(marker)["status"] == 429


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_the_sdk_retry_honours_retry_after_ms(sim: Simulator, api):
    marker = sim.rule(fault="429", retry_after=0.05, times=1)
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/openai/v1/", api_key=KEY, max_retries=1) as client:
        await events_of(await call(client, api, marker))
    assert [r["fault"] for r in sim.records(marker)] == ["429", None]


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_a_filtered_prompt_is_azures_400_content_filter(sim: Simulator, azure, api):
    marker = sim.rule(fault="prompt_filter")
    with pytest.raises(openai.BadRequestError) as caught:
        await call(azure, api, marker)
    assert caught.value.code == "content_filter" and caught.value.param == "prompt"
    assert caught.value.body["innererror"]["content_filter_result"]["hate"]["filtered"] is True


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("500", openai.InternalServerError),
        ("503", openai.InternalServerError),
        ("401", openai.AuthenticationError),
        ("403", openai.PermissionDeniedError),
        ("404", openai.NotFoundError),
    ],
)
async def test_http_faults_are_sdk_status_errors(sim: Simulator, azure, api, fault, error):
    marker = sim.rule(fault=fault)
    with pytest.raises(error) as caught:
        await call(azure, api, marker)
    assert caught.value.status_code == int(fault)


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_a_cut_mid_stream_is_a_connection_error_after_the_first_tokens(sim: Simulator, azure, api):
    marker = sim.rule(reply="red fox ran far", fault="cut", fault_after=2)
    received: list[Any] = []
    stream = await call(azure, api, marker)
    with pytest.raises(openai.APIConnectionError):
        await read_into(received, stream)
    assert len([e for e in received if is_text(e)]) == 2
    record = sim.record(marker)
    assert record["ending"] == "cut" and record["tokens_sent"] == 2 and not record["finished"]


async def test_a_wrong_key_and_an_unknown_path_are_refused(sim: Simulator):
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/openai/v1/", api_key="wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.responses.create(model=MODEL, input="hi")
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/openai/v2/", api_key=KEY, max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.responses.create(model=MODEL, input="hi")
    assert caught.value.body == {"code": "404", "message": "Resource not found"}
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{sim.url}/openai/v1/responses", headers={"api-key": KEY})).status_code == 404


# --- Timing and disconnects ---------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_thinking_is_silence_after_the_stream_is_acknowledged(sim: Simulator, azure, api):
    """Causality, not timing: in_progress / the role chunk has arrived and nothing is generated yet."""
    marker = sim.rule(think_ms=30_000, reasoning="never shown", tokens=5)
    stream = await call(azure, api, marker)
    async for event in stream:
        if getattr(event, "type", None) == "response.in_progress" or (
            getattr(event, "choices", None) and event.choices[0].delta.role == "assistant"
        ):
            break
    record = sim.record(marker)
    assert record["tokens_sent"] == record["reasoning_sent"] == 0 and record["ended_at"] is None
    await stream.close()
    record = sim.wait_for(marker, lambda r: r["ended_at"] is not None)
    assert record["closed_early"] and not record["finished"] and record["tokens_sent"] == 0


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_a_client_that_leaves_is_recorded_as_closed_early(sim: Simulator, azure, api):
    marker = sim.rule(tokens=400, token_ms=20)
    stream = await call(azure, api, marker)
    async for event in stream:
        if is_text(event):
            break
    await stream.close()
    record = sim.wait_for(marker, lambda r: r["ended_at"] is not None)
    assert record["closed_early"] is True and not record["finished"]
    assert 0 < record["tokens_sent"] < 400


# --- Paths, bad requests, rules -------------------------------------------------------------------------


async def test_the_classic_deployments_path_still_works(sim: Simulator):
    url = f"{sim.url}/openai/deployments/chat-sim/chat/completions"
    marker = sim.rule(reply="classic")
    async with httpx.AsyncClient() as client:
        ok = await client.post(url, params={"api-version": "2024-10-21"}, headers={"api-key": KEY}, json=chat(marker))
        missing = await client.post(url, headers={"api-key": KEY}, json=chat(marker))
    assert ok.json()["choices"][0]["message"]["content"] == "classic"
    assert missing.status_code == 404
    first = sim.records(marker)[0]
    assert (first["deployment"], first["api_version"], first["auth"]) == ("chat-sim", "2024-10-21", "api-key")


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("responses", "not json", None),
        ("responses", {"model": MODEL}, "input"),
        ("responses", {"input": "hi"}, "model"),
        ("responses", {"model": MODEL, "input": 42}, "input"),
        ("responses", {"model": MODEL, "input": "hi", "max_output_tokens": 5}, "max_output_tokens"),
        ("responses", {"model": MODEL, "input": "hi", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ("responses", {"model": MODEL, "input": "hi", "reasoning": {"summary": "all"}}, "reasoning.summary"),
        ("responses", {"model": MODEL, "input": "hi", "stream": "yes"}, "stream"),
        ("chat/completions", {"model": MODEL}, "messages"),
        ("chat/completions", {"model": MODEL, "messages": ["hi"]}, "messages"),
        ("chat/completions", {**chat("hi"), "max_completion_tokens": "many"}, "max_completion_tokens"),
    ],
)
async def test_bad_requests_get_the_services_400(sim: Simulator, path, body, param):
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{sim.url}/openai/v1/{path}", headers={"api-key": KEY}, **kwargs)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"fault": "explode"}, "unknown fault"),
        ({"think": 5}, "unknown rule fields: think"),
        ({"think_ms": "long"}, "think_ms must be a number"),
        ({"reasoning_tokens": -1}, "reasoning_tokens must not be negative"),
        ({"times": True}, "times must be an integer"),
    ],
)
async def test_bad_rules_are_refused_naming_the_field(sim: Simulator, rule, says):
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{sim.url}/_sim/rules", json=rule)
    assert response.status_code == 400 and says in response.json()["error"]


async def test_concurrent_streams_do_not_mix(sim: Simulator, azure):
    markers = [sim.rule(reply=f"answer number {n} " * 5) for n in range(8)]

    async def one(marker: str) -> str:
        return text_of(await events_of(await azure.responses.create(model=MODEL, input=marker, stream=True)))

    texts = await asyncio.gather(*(one(m) for m in markers))
    assert texts == [sim.record(m)["reply"] for m in markers]
