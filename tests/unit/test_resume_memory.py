"""The in-process resume store keeps its memory budget: finished streams make room, live ones are never cut."""

import pytest

from chat.resume.memory import MemoryStore
from chat.resume.store import StoreUnavailable, StreamMeta

META = StreamMeta("digest", "application/x-ndjson", "request")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_finished_streams_are_evicted_oldest_first_to_make_room():
    store = MemoryStore(max_bytes=1000)
    for name in ("a", "b"):
        await store.create(name, META, ttl=60)
        await store.append(name, [(1, b"x" * 500)], "done", ttl=60)
    assert store.bytes == 1000
    await store.create("c", META, ttl=60)
    assert await store.meta("a") is None and await store.meta("b") is not None
    assert store.bytes == 500


async def test_a_new_stream_is_refused_when_live_streams_fill_the_budget():
    store = MemoryStore(max_bytes=1000)
    await store.create("live", META, ttl=60)
    await store.append("live", [(1, b"x" * 1000)], None, ttl=60)
    with pytest.raises(StoreUnavailable):
        await store.create("next", META, ttl=60)


async def test_an_append_past_the_budget_ends_the_log_as_gone():
    store = MemoryStore(max_bytes=1000)
    await store.create("s", META, ttl=60)
    await store.append("s", [(1, b"x" * 600), (2, b"y" * 600)], None, ttl=60)
    batch = await store.read("s", 0, 0)
    assert batch.entries == [(1, b"x" * 600)] and batch.end == "gone"
    assert store.bytes == 600


async def test_streams_expire_after_their_ttl_and_free_their_bytes():
    clock = Clock()
    store = MemoryStore(max_bytes=1000, clock=clock)
    await store.create("s", META, ttl=10)
    await store.append("s", [(1, b"x" * 100)], "done", ttl=10)
    clock.now = 11
    await store.create("t", META, ttl=10)
    assert await store.meta("s") is None and store.bytes == 0


async def test_lines_out_of_order_are_refused():
    store = MemoryStore(max_bytes=1000)
    await store.create("s", META, ttl=60)
    with pytest.raises(StoreUnavailable):
        await store.append("s", [(2, b"x")], None, ttl=60)
