"""The ffmpeg capture against a real stream server on loopback: drops, outages, stalls, backlogs, titles."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from recorder.parts import CaptureResult, chapters_of, sorted_parts
from recorder.processing import probe_duration
from recorder.recording import CaptureOptions

import sources
from sources import Listener, codec_of
from streams import StreamServer, make_adts_joined_mid_frame, make_mp3

FAST = CaptureOptions(stall_seconds=3, rw_timeout_seconds=2, first_retry_seconds=0.2, max_retry_seconds=0.5,
                      min_free_bytes=0)


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp3(tmp_path_factory.mktemp("tone") / "tone.mp3")


@pytest.fixture
def server(tone: Path) -> Iterator[StreamServer]:
    running = StreamServer(tone)
    yield running
    running.stop()


def record(folder: Path, url: str, seconds: float, options: CaptureOptions = FAST,
           during: list[tuple[float, Callable[[], object]]] | None = None) -> tuple[CaptureResult, Listener, float]:
    """The shared capture helper with this module's quick stall and retry times."""
    return sources.record(folder, url, seconds, options, during)


def test_a_clean_capture_lasts_the_window_and_keeps_the_stream_as_it_is(tmp_path: Path,
                                                                         server: StreamServer) -> None:
    result, listener, took = record(tmp_path, server.url, 4)
    assert result.error is None and result.file is not None
    assert abs(result.duration_seconds - 4) <= 0.35
    assert abs(took - 4) <= 1.5
    assert listener.gaps == [] and len(sorted_parts(tmp_path)) == 1
    assert listener.progress.bytes > 40_000 and listener.progress.title == "Artist - First Song"
    assert 100 <= (listener.progress.bitrate_kbps or 0) <= 160


def test_an_aac_stream_joined_inside_a_frame_records_without_a_gap(tmp_path: Path) -> None:
    """Regression: ffmpeg's muxer gave up on the first, false ADTS frame (its automatic aac_adtstoasc filter
    failed), so the first connection to an AAC Icecast mount sometimes ended at once with a short gap."""
    station = StreamServer(make_adts_joined_mid_frame(tmp_path / "joined.aac"), content_type="audio/aac")
    try:
        result, listener, _ = record(tmp_path / "session", station.url, 3)
    finally:
        station.stop()
    assert result.error is None and result.file is not None, result.error
    assert listener.gaps == [] and len(sorted_parts(tmp_path / "session")) == 1
    assert codec_of(result.file) == "aac"


def test_title_changes_become_chapters(tmp_path: Path, server: StreamServer) -> None:
    def change() -> None:
        server.title = "Second Artist - Second Song"

    result, listener, _ = record(tmp_path, server.url, 4, during=[(2.0, change)])
    assert result.error is None
    chapters = chapters_of(tmp_path)
    assert [title for _, title in chapters] == ["Artist - First Song", "Second Artist - Second Song"]
    assert chapters[0][0] == 0.0 and 1.0 <= chapters[1][0] <= 3.0


def test_a_dropped_connection_is_a_gap_and_recording_goes_on(tmp_path: Path, server: StreamServer) -> None:
    result, listener, _ = record(tmp_path, server.url, 5, during=[(2.0, server.drop_all)])
    assert result.error is None
    assert len(listener.gaps) == 1 and listener.gaps[0][1] < 1.5
    assert len(sorted_parts(tmp_path)) == 2
    assert abs(result.duration_seconds - (5 - listener.gaps[0][1])) <= 0.5


def test_an_outage_costs_no_more_than_the_outage(tmp_path: Path, server: StreamServer) -> None:
    def fail() -> None:
        server.fail_status = 503
        server.drop_all()

    def recover() -> None:
        server.fail_status = None

    result, listener, _ = record(tmp_path, server.url, 7, during=[(1.5, fail), (3.5, recover)])
    assert result.error is None
    lost = sum(seconds for _, seconds, _ in listener.gaps)
    assert 1.8 <= lost <= 3.2, listener.gaps
    assert any("5XX" in reason for _, _, reason in listener.gaps), listener.gaps  # ffmpeg's words for a 503
    assert abs(result.duration_seconds - (7 - lost)) <= 0.6


def test_a_stalled_stream_is_restarted_by_the_watchdog(tmp_path: Path, server: StreamServer) -> None:
    def stall() -> None:
        server.stalled = True

    def resume() -> None:
        server.stalled = False

    result, listener, _ = record(tmp_path, server.url, 9, during=[(1.5, stall), (6.0, resume)])
    assert result.error is None
    assert listener.gaps, "the stall was noticed"
    assert any("stalled" in reason or "ffmpeg ended early" in reason for _, _, reason in listener.gaps)
    assert len(sorted_parts(tmp_path)) >= 2


def test_a_backlog_replayed_on_connect_is_not_kept_twice(tmp_path: Path, server: StreamServer) -> None:
    server.burst_seconds = 3.0
    result, listener, _ = record(tmp_path, server.url, 5, during=[(2.5, server.drop_all)])
    assert result.error is None
    part_audio = sum(probe_duration(part) for part in sorted_parts(tmp_path))
    assert part_audio >= 5 + 2.5, "each connection received a 3 s backlog"
    lost = sum(seconds for _, seconds, _ in listener.gaps)
    assert abs(result.duration_seconds - (5 - lost)) <= 0.5, "only the real-time audio is kept"


def test_a_very_verbose_ffmpeg_never_blocks(tmp_path: Path, server: StreamServer) -> None:
    options = CaptureOptions(loglevel="trace", debug_timestamps=True, min_free_bytes=0)
    result, _, took = record(tmp_path, server.url, 4, options=options)
    assert result.error is None and abs(result.duration_seconds - 4) <= 0.35
    assert (tmp_path / "ffmpeg.log").stat().st_size > 65536, "ffmpeg wrote more than a pipe buffer holds"
    assert took < 4 + 3


@pytest.mark.parametrize("path, words", [("/missing", "404"), ("/live.mp3", "5XX")])
def test_http_errors_end_in_a_clear_failure(tmp_path: Path, server: StreamServer, path: str, words: str) -> None:
    server.fail_status = 503
    result, listener, _ = record(tmp_path, server.url.replace("/live.mp3", path), 2)
    assert result.file is None and "Stream connection failed: nothing was recorded" in result.error
    assert words in (tmp_path / "ffmpeg.log").read_text()
    assert listener.gaps and words in listener.gaps[0][2]


def test_an_unreachable_stream_fails_with_the_reason(tmp_path: Path) -> None:
    result, _, took = record(tmp_path, "http://127.0.0.1:9/nothing.mp3", 2)
    assert result.file is None and "Stream connection failed" in result.error
    assert took < 5


def test_low_disk_stops_the_recording_with_a_warning(tmp_path: Path, server: StreamServer) -> None:
    result, _, took = record(tmp_path, server.url, 5, options=CaptureOptions(min_free_bytes=2**62))
    assert result.file is None and result.error.startswith("Disk space warning")
    assert took < 2
