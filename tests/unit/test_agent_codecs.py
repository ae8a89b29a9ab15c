"""Byte codecs between agent and launcher: launcher frames and Docker's multiplexed stream."""

import asyncio
import struct

import msgspec
import pytest

from throwbox_agent import frames
from throwbox_agent.errors import FrameError
from throwbox_agent.launcher import LAUNCHER_STDERR_KEEP, LauncherReport, LauncherSession
from throwbox_agent.outcome import Exit
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


# Typed launcher frames: every frame the launcher sends becomes a typed value; a payload that
# is not one is a FrameError (the run fails as launch_failed, the agent goes on).


def test_every_launcher_frame_decodes_to_its_typed_value():
    assert frames.decode_launcher(frames.RUN_STDOUT, b"hi") == frames.Chunk("run", "stdout", b"hi")
    assert frames.decode_launcher(frames.COMPILE_STDERR, b"e") == frames.Chunk("compile", "stderr", b"e")
    assert frames.decode_launcher(frames.COMPILE_DONE, b'{"exit_code": 1, "signal": null}') == frames.CompileEnd(1)
    assert frames.decode_launcher(frames.RUN_DONE, b'{"exit_code": null, "signal": "SIGKILL", "pids_limit": true,'
                                                   b' "wall_ms": 7}') == frames.RunEnd(None, "SIGKILL", True, 7)
    assert frames.decode_launcher(frames.LAUNCH_FAILED, b'{"error": "no such file"}') == frames.LaunchFailed("no such file")
    assert frames.decode_launcher(frames.TEST_DONE, b'{"index": 2, "max_rss_bytes": 5}') == frames.TestEnd(
        index=2, max_rss_bytes=5)


def test_a_launcher_payload_of_the_wrong_shape_is_a_frame_error():
    for ftype, payload in ((frames.RUN_DONE, b"not json"), (frames.RUN_DONE, b'{"exit_code": "0"}'),
                           (frames.TEST_DONE, b"{}"), (frames.LAUNCH_FAILED, b"[]")):
        with pytest.raises(FrameError, match=f"bad {ftype.decode()} frame"):
            frames.decode_launcher(ftype, payload)
    with pytest.raises(FrameError, match="unknown frame type"):
        frames.decode_launcher(frames.HEADER, b"{}")


def test_the_agents_frames_encode_as_the_launcher_reads_them():
    header = frames.Header(files=[frames.HeaderFile("a.py", "eA==")], compile=None, run=["python3", "a.py"],
                           env={}, cpu_time_s=1, nproc=8, nofile=64, fsize_bytes=1024)
    wire = frames.FrameDecoder(frozenset({frames.HEADER})).feed(frames.encode_json(frames.HEADER, header))
    assert wire[0][0] == frames.HEADER
    assert msgspec.json.decode(wire[0][1]) == {"files": [{"name": "a.py", "content_b64": "eA=="}], "compile": None,
                                              "run": ["python3", "a.py"], "env": {}, "cpu_time_s": 1, "nproc": 8,
                                              "nofile": 64, "fsize_bytes": 1024}


def session_over(tests_mode: bool = False) -> LauncherSession:
    return LauncherSession("r", attachment=None, report=LauncherReport(), stdin=asyncio.Queue(),  # type: ignore[arg-type]
                           tests_mode=tests_mode)


def launcher_chunk(*frame_list: tuple[bytes, bytes]) -> tuple[int, bytes]:
    return frames.DOCKER_STDOUT, b"".join(frames.encode(t, p) for t, p in frame_list)


def test_the_session_reads_frames_into_a_report_and_hands_output_on():
    s = session_over()
    got = s.feed([launcher_chunk((b"O", b"cc"), (b"C", b'{"exit_code": 0}'), (b"o", b"hi")),
                  (frames.DOCKER_STDERR, b"launcher says"), launcher_chunk((b"X", b'{"exit_code": 4}'))])
    assert got == [frames.Chunk("compile", "stdout", b"cc"), frames.CompileEnd(0), frames.Chunk("run", "stdout", b"hi"),
                   frames.RunEnd(4)]
    r = s.report
    assert (r.compile_exit, r.run_exit, r.exit_reported, r.launch_error) == (Exit(0, None), Exit(4, None), True, None)
    assert r.over and bytes(r.stderr) == b"launcher says"


def test_after_a_failed_compile_or_in_tests_mode_x_carries_no_run_exit():
    s = session_over()
    s.feed([launcher_chunk((b"C", b'{"exit_code": 1}'), (b"X", b'{"exit_code": 0}'))])
    assert s.report.compile_failed and s.report.run_exit is None and s.report.exit_reported
    t = session_over(tests_mode=True)
    t.feed([launcher_chunk((b"X", b'{"exit_code": 0}'))])
    assert t.report.run_exit is None and t.report.exit_reported


def test_a_bad_frame_ends_the_batch_as_a_launch_error():
    s = session_over()
    got = s.feed([launcher_chunk((b"o", b"a"), (b"X", b"{oops"), (b"o", b"b")), launcher_chunk((b"o", b"c"))])
    assert got == [frames.Chunk("run", "stdout", b"a")]
    assert s.report.launch_error.startswith("bad frame from the launcher: bad X frame") and s.report.over


def test_launch_failed_is_reported_and_the_launchers_stderr_is_kept_up_to_its_bound():
    s = session_over()
    s.feed([(frames.DOCKER_STDERR, b"x" * 5000), launcher_chunk((b"L", b'{"error": "bad header"}'))])
    assert s.report.launch_error == "bad header" and len(s.report.stderr) == LAUNCHER_STDERR_KEEP
