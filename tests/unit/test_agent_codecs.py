"""Byte codecs between agent and launcher: launcher frames and Docker's multiplexed stream."""

import struct

import pytest

from throwbox_agent import frames
from throwbox_agent.errors import FrameError
from throwbox_agent.output import Coalescer, OutputCap


def docker_chunk(stream: int, data: bytes) -> bytes:
    return struct.pack(">B3xI", stream, len(data)) + data


def test_a_frame_is_type_then_big_endian_length_then_payload():
    assert frames.encode(b"H", b"{}") == b"H\x00\x00\x00\x02{}"
    assert frames.encode(b"Z") == b"Z\x00\x00\x00\x00"


def test_frames_split_at_every_byte_boundary_decode_to_the_same_frames():
    wire = frames.encode(b"o", b"hello") + frames.encode(b"e", b"") + frames.encode(b"X", b'{"exit_code":0}')
    for cut in range(len(wire) + 1):
        dec = frames.FrameDecoder()
        got = dec.feed(wire[:cut]) + dec.feed(wire[cut:])
        assert got == [(b"o", b"hello"), (b"e", b""), (b"X", b'{"exit_code":0}')]
        assert dec.pending == 0


def test_an_unknown_frame_type_or_an_oversize_length_is_an_error():
    with pytest.raises(FrameError, match="unknown frame type"):
        frames.FrameDecoder().feed(b"Q\x00\x00\x00\x00")
    with pytest.raises(FrameError, match="length"):
        frames.FrameDecoder().feed(b"o" + struct.pack(">I", frames.MAX_FRAME_BYTES + 1))


def test_large_stdin_is_split_into_frames_of_at_most_one_mib():
    data = b"x" * (frames.MAX_FRAME_BYTES * 2 + 5)
    dec = frames.FrameDecoder(allowed=frozenset({frames.STDIN}))
    got = dec.feed(frames.encode_stdin(data))
    assert [len(p) for _, p in got] == [frames.MAX_FRAME_BYTES, frames.MAX_FRAME_BYTES, 5]
    assert b"".join(p for _, p in got) == data


def test_docker_stream_is_demultiplexed_into_stdout_and_stderr_in_any_split():
    wire = docker_chunk(1, b"frame-bytes") + docker_chunk(2, b"launcher crash") + docker_chunk(1, b"more")
    for cut in range(len(wire) + 1):
        demux = frames.DockerDemux()
        assert demux.feed(wire[:cut]) + demux.feed(wire[cut:]) == [
            (1, b"frame-bytes"), (2, b"launcher crash"), (1, b"more")]


def test_a_bad_docker_stream_id_is_an_error():
    with pytest.raises(FrameError):
        frames.DockerDemux().feed(docker_chunk(7, b"x"))


def test_the_output_cap_keeps_exactly_the_limit_and_says_it_was_exceeded():
    cap = OutputCap(10)
    assert cap.admit(b"123456") == b"123456" and not cap.exceeded
    assert cap.admit(b"7890") == b"7890" and not cap.exceeded     # exactly at the cap is fine
    assert cap.admit(b"x") == b"" and cap.exceeded
    assert cap.total == 10


def test_the_cap_cuts_a_chunk_that_crosses_it():
    cap = OutputCap(5)
    assert cap.admit(b"abcdefgh") == b"abcde" and cap.exceeded


def test_consecutive_chunks_of_one_stream_coalesce_into_one_record_in_order():
    c = Coalescer()
    c.add("run", "stdout", b"a")
    c.add("run", "stdout", b"b")
    c.add("run", "stderr", b"E")
    c.add("run", "stdout", b"c")
    assert c.size == 4
    assert c.take() == [("run", "stdout", "ab"), ("run", "stderr", "E"), ("run", "stdout", "c")]
    assert c.take() == []


def test_a_utf8_character_split_across_chunks_is_not_mangled():
    snowman = "☃".encode()
    c = Coalescer()
    c.add("run", "stdout", b"x" + snowman[:1])
    first = c.take()
    c.add("run", "stdout", snowman[1:] + b"y")
    assert first + c.take(final=True) == [("run", "stdout", "x"), ("run", "stdout", "☃y")]


def test_invalid_utf8_is_replaced_not_dropped():
    c = Coalescer()
    c.add("run", "stdout", b"a\xffb")
    assert c.take(final=True) == [("run", "stdout", "a\ufffdb")]
