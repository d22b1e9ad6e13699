"""What goes on the wire to the model service, read from the request heads a loopback server receives."""

from __future__ import annotations

import asyncio
import itertools

import openai

from chat.conversation import Conversation, Message
from chat.settings import Settings
from chat.upstream import APIS, Upstream, request_headers
from chat.upstream.transport import UpstreamHTTP

COMPLETED = b'data: {"type":"response.completed","response":{"usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + COMPLETED


async def heads_of_two_requests(*, keyless: bool) -> list[dict[str, list[str]]]:
    """Two answers through an `Upstream`, and the head of each request, by lower-cased header name."""
    heads: list[dict[str, list[str]]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        fields: dict[str, list[str]] = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if line:
                name, _, value = line.partition(":")
                fields.setdefault(name.strip().lower(), []).append(value.strip())
        await reader.readexactly(int(fields["content-length"][0]))
        heads.append(fields)
        writer.write(ANSWER)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tokens = (f"token-{n}" for n in itertools.count(1))

    async def token() -> str:
        return next(tokens)

    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/openai/v1/", api_key="the-key", max_retries=0)
    http = UpstreamHTTP(
        max_connections=4, connect_seconds=5, read_seconds=5, headers=request_headers(client, keyless=keyless)
    )
    settings = Settings(azure_openai_chat_deployment="chat")  # type: ignore[call-arg]
    upstream = Upstream(settings, client, http, APIS["responses"], token if keyless else None)
    try:
        for _ in range(2):
            async with await upstream.open(Conversation((Message("user", "hi"),))) as events:
                assert [type(event).__name__ async for event in events] == ["Finish"]
    finally:
        await http.aclose()
        server.close()
    return heads


async def test_keyless_requests_carry_a_fresh_token_each_and_no_key() -> None:
    heads = await heads_of_two_requests(keyless=True)
    assert [head["authorization"] for head in heads] == [["Bearer token-1"], ["Bearer token-2"]]
    assert all("api-key" not in head for head in heads)


async def test_requests_carry_the_sdk_user_agent_and_json_but_not_its_telemetry() -> None:
    for head in await heads_of_two_requests(keyless=False):
        assert head["authorization"] == ["Bearer the-key"]
        assert head["content-type"] == ["application/json"]
        assert head["user-agent"] == [f"AsyncOpenAI/Python {openai.__version__}"]
        assert head["accept-encoding"] == ["identity"]
        assert not [name for name in head if name.startswith("x-stainless")]
        assert all(len(values) == 1 for values in head.values())  # nothing sent twice
