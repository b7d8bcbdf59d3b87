"""The HTTP/2 frame cursor of the relay's pass-through: boundaries, injection, dropped ACK."""

from __future__ import annotations

import functools
import random

from tlssim.faults.h2pipe import CLIENT_PREFACE, FrameCursor, drain_frames


def frame(kind: int, flags: int, payload: bytes, stream: int = 1) -> bytes:
    header = len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big")
    return header + payload


FRAMES = [
    frame(0x4, 0, b"\x00\x03\x00\x00\x00\x64", stream=0),  # SETTINGS
    frame(0x1, 0x4, b"h" * 40),  # HEADERS
    frame(0x0, 0, b"d" * 3000),  # DATA
    frame(0x6, 0x1, b"theirs!!", stream=0),  # someone else's PING ACK
    frame(0x0, 0x1, b""),  # empty DATA, END_STREAM
]


def split_randomly(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), 12))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_bytes_pass_unchanged_however_they_are_split() -> None:
    stream = CLIENT_PREFACE + b"".join(FRAMES)
    rng = random.Random(1)
    for _ in range(50):
        cursor = FrameCursor(preface=len(CLIENT_PREFACE))
        out = b"".join(cursor.feed(chunk) for chunk in split_randomly(stream, rng))
        assert out == stream
        assert cursor.frames == len(FRAMES) and cursor.at_boundary


def test_injection_lands_between_two_frames() -> None:
    stream = b"".join(FRAMES)
    injected = drain_frames(b"12345678")
    rng = random.Random(2)
    for _ in range(50):
        cursor = FrameCursor()
        chunks = split_randomly(stream, rng)
        out = cursor.feed(chunks[0])
        cursor.inject = injected
        out += b"".join(cursor.feed(chunk) for chunk in chunks[1:])
        at = out.index(injected)
        assert out[:at] + out[at + len(injected) :] == stream
        boundaries = {sum(map(len, FRAMES[:i])) for i in range(1, len(FRAMES) + 1)}
        assert at in boundaries


def test_our_ping_ack_is_taken_out_and_reported_once() -> None:
    ours = frame(0x6, 0x1, b"ours0001", stream=0)
    stream = CLIENT_PREFACE + FRAMES[1] + ours + b"".join(FRAMES[2:])
    rng = random.Random(3)
    for _ in range(50):
        acked: list[bool] = []
        cursor = FrameCursor(preface=len(CLIENT_PREFACE))
        cursor.drop_ack = b"ours0001"
        cursor.on_dropped = functools.partial(acked.append, True)
        out = b"".join(cursor.feed(chunk) for chunk in split_randomly(stream, rng))
        assert out == stream.replace(ours, b"")
        assert acked == [True]
