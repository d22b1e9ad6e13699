"""A cheap load generator in its own process: raw HTTP/1.1 over asyncio protocols, no parsing
beyond counting content deltas as bytes arrive.

Each stream is one connection (`Connection: close`). On every read it notes the monotonic
time once and the number of content deltas the read completed, so per-delta arrival times
cost a regex over the new bytes and nothing else. Chunked-encoding headers are left in place:
the patterns cannot match them. The run is bounded: streams start only until the deadline,
and each stream has a timeout.

    python -m benchmarks.loadgen SPEC.json OUT.json
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import sys
import time

import msgspec

from benchmarks._common import raise_fd_limit, use_uvloop

PATTERNS = {
    # The function's and the peer's content lines.
    "ndjson": re.compile(rb'\{"delta":\{"role":"assistant","content":'),
    # The upstream's own content events: Chat Completions chunks (the role chunk's empty content
    # does not count) and Responses text deltas.
    "sse": re.compile(rb'"delta":\{"content":"[^"]'),
    "responses": re.compile(rb'"type":"response.output_text.delta"'),
}
TERMINATOR = b"\r\n0\r\n\r\n"
TAIL = 96


class Target(msgspec.Struct):
    port: int
    path: str
    kind: str  # ndjson | sse | responses
    body: str  # JSON with "{marker}" where the marker goes
    headers: dict[str, str] = {}


class Spec(msgspec.Struct):
    mode: str  # ttft | load | slow | burst
    targets: list[Target]
    rounds: int = 0  # ttft: requests per target, interleaved
    slots: int = 0  # load/slow/burst: concurrent streams
    duration_s: float = 10.0  # load: start streams until then
    ramp_s: float = 2.0  # load: spread the first starts over this long
    pause_s: float = 0.0  # slow: stop reading for this long after the first delta, then disconnect
    timeout_s: float = 120.0
    seed: int = 1
    prefix: str = ""  # makes markers unique across runs


class Result(msgspec.Struct):
    marker: str
    target: int
    started: int
    status: int = 0
    first_byte: int = 0
    first_content: int = 0
    ended: int = 0
    complete: bool = False
    arrivals: list[int] = []


class Stream(asyncio.Protocol):
    def __init__(self, request: bytes, pattern: re.Pattern[bytes], result: Result, done: asyncio.Future[None]) -> None:
        self.request = request
        self.pattern = pattern
        self.result = result
        self.done = done
        self.tail = b""
        self.transport: asyncio.Transport | None = None
        self.pause_after_first: float = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        result = self.result
        if not result.first_byte:
            result.first_byte = now
            if data.startswith(b"HTTP/1.1 "):
                result.status = int(data[9:12])
        buffer = self.tail + data
        skip = len(self.tail)
        count = 0
        for match in self.pattern.finditer(buffer):
            if match.end() > skip:
                count += 1
        if count:
            if not result.first_content:
                result.first_content = now
                if self.pause_after_first and self.transport is not None:
                    self.transport.pause_reading()
                    # Then go away without reading on: the function must close the upstream.
                    asyncio.get_running_loop().call_later(self.pause_after_first, self._finish)
            result.arrivals.extend([now] * count)
        if buffer.endswith(TERMINATOR):
            result.complete = True
            self._finish()
        self.tail = buffer[-TAIL:]

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.result.ended:
            self.result.ended = time.monotonic_ns()
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)


def _request(target: Target, marker: str) -> bytes:
    body = target.body.replace("{marker}", marker).encode()
    head = [f"POST {target.path} HTTP/1.1", f"Host: 127.0.0.1:{target.port}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in target.headers.items()]
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(head).encode() + body


class Runner:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.results: list[Result] = []
        self.counter = 0

    async def one(self, index: int, pause: float = 0.0) -> Result:
        target = self.spec.targets[index]
        self.counter += 1
        marker = f"{self.spec.prefix}{self.counter:x}t{index}"
        result = Result(marker=marker, target=index, started=time.monotonic_ns())
        self.results.append(result)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        request = _request(target, marker)
        protocol = Stream(request, PATTERNS[target.kind], result, done)
        protocol.pause_after_first = pause
        try:
            if pause:  # a slow reader: a small receive window, so the sender feels it sooner
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                sock.setblocking(False)
                await loop.sock_connect(sock, ("127.0.0.1", target.port))
                await loop.create_connection(lambda: protocol, sock=sock)
            else:
                await asyncio.wait_for(loop.create_connection(lambda: protocol, "127.0.0.1", target.port), 30)
            await asyncio.wait_for(done, self.spec.timeout_s)
        except (OSError, TimeoutError):
            if protocol.transport is not None:
                protocol.transport.abort()
            result.ended = result.ended or time.monotonic_ns()
        return result

    async def ttft(self) -> None:
        rng = random.Random(self.spec.seed)
        for _ in range(self.spec.rounds):
            order = list(range(len(self.spec.targets)))
            rng.shuffle(order)  # interleaved, in a fresh order each round
            for index in order:
                await self.one(index)

    async def load(self) -> None:
        spec = self.spec
        start = time.monotonic()
        deadline = start + spec.duration_s

        async def slot(number: int) -> None:
            await asyncio.sleep(spec.ramp_s * number / max(1, spec.slots))
            while time.monotonic() < deadline:
                await self.one(0)

        await asyncio.gather(*(slot(n) for n in range(spec.slots)))

    async def burst(self) -> None:
        """Every slot opens its one stream at the same moment."""
        await asyncio.gather(*(self.one(0) for _ in range(self.spec.slots)))

    async def slow(self) -> None:
        await asyncio.gather(*(self.one(0, pause=self.spec.pause_s) for _ in range(self.spec.slots)))


async def _main(spec: Spec) -> list[Result]:
    runner = Runner(spec)
    await getattr(runner, spec.mode)()
    return runner.results


def main() -> None:
    with open(sys.argv[1], "rb") as source:
        spec = msgspec.json.decode(source.read(), type=Spec)
    raise_fd_limit()
    use_uvloop()
    print("loadgen started", flush=True)
    results = asyncio.run(_main(spec))
    with open(sys.argv[2], "wb") as out:
        out.write(msgspec.json.encode(results))


if __name__ == "__main__":
    main()
