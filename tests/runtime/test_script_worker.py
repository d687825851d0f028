"""The frames a script worker sends its parent (runtime.script_worker): a frame reads back as
sent; a cut or garbled stream reads as its end, so the explorer runs the rest itself."""

from __future__ import annotations

import asyncio
import pickle
import struct

import pytest

from runtime.script_worker import PatternDone, encode, read_frame


def _stream(data: bytes) -> asyncio.StreamReader:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    return stream


async def test_frames_read_back_as_sent_then_the_end():
    first, second = PatternDone("p02", {"crypto proof": "no"}, [], ""), PatternDone(
        "p04", {}, [], "p04 could not start")
    stream = _stream(encode(first) + encode(second))
    assert await read_frame(stream) == first
    assert await read_frame(stream) == second
    assert await read_frame(stream) is None


@pytest.mark.parametrize("data", [
    encode(PatternDone("p02", {}, [], ""))[:-3],                # cut off mid-frame
    struct.pack(">Q", 5) + b"hello",                             # not a pickle
    struct.pack(">Q", 40) + pickle.dumps("x")[:2] + b"\0" * 38,  # a broken pickle
    b"\x00\x00",                                                 # cut off in the length
], ids=["cut", "garbage", "broken-pickle", "short-length"])
async def test_a_stream_that_does_not_read_as_frames_ends(data):
    assert await read_frame(_stream(data)) is None
