"""The capture against real sources on loopback: Icecast2 mounts (MP3, AAC, Ogg Vorbis) and a live HLS playlist.

Icecast replays a backlog to each new listener (burst-on-connect) and HLS starts a few segments back: in both
cases the joined recording must hold only the window's real time. Titles set through Icecast's admin API become
chapters, a source that goes away and comes back is a gap, and an HLS playlist cannot make ffmpeg read local files.

The default-burst Icecast and the HLS encoder start first (autouse), and the tests that use neither come first:
the 64 KB bursts fill and the playlist gets its segments meanwhile, so no test waits for them.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from recorder.parts import chapters_of, sorted_parts
from recorder.processing import ProcessingError, probe_duration

from sources import Feeder, Hls, Icecast, codec_of, has_encoder, record

NO_VORBIS = pytest.mark.skipif(not has_encoder("libvorbis"), reason="this ffmpeg has no libvorbis")


@pytest.fixture(scope="module")
def intro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 s of low-rate MP3 (32 kbit/s, 160 KB) that icecast sends to each new listener before the live stream:
    a replay of more than 30 s that arrives within about a second."""
    path = tmp_path_factory.mktemp("intro") / "intro.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=660:sample_rate=44100:duration=40", "-c:a", "libmp3lame", "-b:a", "32k",
                    "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3", str(path)], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def icecast() -> Iterator[Icecast]:
    """Icecast with its default burst-on-connect: 64 KB, 4 s of MP3 at 128 kbit/s and, once the feeder has run
    that long, over 30 s of the sine tone in Vorbis (it compresses to ~13 kbit/s)."""
    server = Icecast()
    try:
        server.start()
        feeders = [server.start_feeder("/live.mp3", "mp3"), server.start_feeder("/live.aac", "aac"),
                   server.start_feeder("/mislabelled.aac", "aac", content_type="audio/mpeg")]
        if has_encoder("libvorbis"):
            feeders.append(server.start_feeder("/live.ogg", "ogg"))
        for started in feeders:
            server.wait_live(started)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", autouse=True)
def sources_warm_up_meanwhile(icecast: Icecast, hls_started: Hls) -> None:
    """Start the default-burst Icecast and the HLS encoder before anything else (see the module docstring)."""


@pytest.fixture(scope="module")
def icecast_no_burst(intro: Path) -> Iterator[Icecast]:
    """Icecast with `<burst-size>0</burst-size>`; /intro.mp3 plays the intro file to each new listener first."""
    server = Icecast(burst_size=0, mounts={"/intro.mp3": {"intro": "/intro-40s.mp3"}},
                     webroot_files={"intro-40s.mp3": intro})  # not the mount's name: icecast would serve the file
    try:
        server.start()
        for started in [server.start_feeder("/live.mp3", "mp3"), server.start_feeder("/intro.mp3", "mp3")]:
            server.wait_live(started)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hls_started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hls]:
    """The HLS encoder and its web server, running; the playlist may not have its segments yet."""
    folder = tmp_path_factory.mktemp("hls") / "served"
    folder.mkdir()
    source = Hls(folder)
    try:
        source.start()
        yield source
    finally:
        source.stop()


@pytest.fixture
def hls(hls_started: Hls) -> Hls:
    """The live playlist, once it lists three segments (ffmpeg starts three back: the backlog to trim)."""
    hls_started.wait_ready(segments=3)
    return hls_started


def feeder(server: Icecast, mount: str) -> Feeder:
    return next(feeder for feeder in server.feeders if feeder.mount == mount)


def parts_audio(folder: Path) -> float:
    """Seconds of audio in the parts as received, backlog included (an unreadable part counts as none)."""
    total = 0.0
    for part in sorted_parts(folder):
        try:
            total += probe_duration(part)
        except ProcessingError:
            pass
    return total


# Icecast without burst-on-connect (neither the bursts nor the playlist are needed yet)


def test_a_replay_longer_than_30_s_on_connect_is_trimmed_not_fatal(tmp_path: Path,
                                                                   icecast_no_burst: Icecast) -> None:
    """Regression: ffmpeg's `-t` backstop counts replayed audio too; at `window + 30 s` ffmpeg stopped right
    after such a replay (exit 0), every part held no live audio and the capture went from gap to gap."""
    result, listener, _ = record(tmp_path, icecast_no_burst.url("/intro.mp3"), 3)
    assert result.error is None and result.file is not None, result.error
    assert listener.gaps == [] and len(sorted_parts(tmp_path)) == 1, (listener.gaps, icecast_no_burst.log())
    assert parts_audio(tmp_path) >= 40, "the part begins with the 40 s intro"
    assert abs(result.duration_seconds - 3) <= 0.35


def test_without_a_burst_an_icecast_mp3_part_holds_only_real_time(tmp_path: Path,
                                                                  icecast_no_burst: Icecast) -> None:
    """Without a burst the audio starts once ffmpeg is connected: the start-up (the capture's Content-Type
    request, spawning ffmpeg, connecting: 0.35-0.5 s here) is missing, and nothing is trimmed."""
    result, listener, _ = record(tmp_path, icecast_no_burst.url("/live.mp3"), 4)
    assert result.error is None and result.file is not None, result.error
    assert codec_of(result.file) == "mp3" and listener.gaps == []
    assert parts_audio(tmp_path) <= 4 + 0.2, "no burst, no backlog"
    assert abs(result.duration_seconds - parts_audio(tmp_path)) <= 0.05, "nothing is trimmed"
    assert 4 - 1.0 <= result.duration_seconds <= 4 + 0.2


# HLS


def test_a_live_hls_playlist_is_captured_without_its_backlog(tmp_path: Path, hls: Hls) -> None:
    result, listener, _ = record(tmp_path, hls.url(), 4)
    assert result.error is None and result.file is not None, result.error
    assert codec_of(result.file) == "aac"
    assert listener.gaps == []
    assert parts_audio(tmp_path) >= 4 + 1.5, "ffmpeg starts a few segments back"
    assert abs(result.duration_seconds - 4) <= 0.6


def secret_segment(folder: Path) -> Path:
    """A local MPEG-TS file with AAC audio: what a hostile playlist would like the recorder to copy."""
    path = folder / "secret.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=1000:sample_rate=44100:duration=3", "-c:a", "aac", "-b:a", "96k", "-f", "mpegts",
                    str(path)], check=True, timeout=60)
    return path


def payload_samples(segment: Path) -> list[bytes]:
    """32-byte pieces from inside the audio packets of a TS file: most survive a stream copy unchanged."""
    data, samples = segment.read_bytes(), []
    for start in range(0, len(data) - 187, 188):
        packet = data[start:start + 188]
        pid, starts_unit, payload_only = ((packet[1] & 0x1F) << 8) | packet[2], packet[1] & 0x40, packet[3] >> 4 & 3
        if pid == 0x100 and not starts_unit and payload_only == 1:
            samples.append(packet[100:132])
    return samples


def test_an_hls_playlist_cannot_make_the_capture_read_local_files(tmp_path: Path, hls: Hls) -> None:
    secret = secret_segment(tmp_path)
    samples = payload_samples(secret)
    name = f"evil-{uuid.uuid4().hex[:6]}.m3u8"
    (hls.folder / name).write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n"
                                   f"#EXTINF:3.0,\nfile://{secret}\n#EXT-X-ENDLIST\n")
    # control: an ffmpeg allowed to open `file` does copy the local file through this playlist
    control = tmp_path / "control.mka"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file,http,tcp,hls", "-i",
                    hls.url(name), "-c", "copy", "-f", "matroska", str(control)], check=True, timeout=30)
    assert sum(sample in control.read_bytes() for sample in samples) > len(samples) // 2

    folder = tmp_path / "capture"
    result, listener, _ = record(folder, hls.url(name), 2)
    assert result.file is None and result.error is not None
    assert "Stream connection failed: nothing was recorded" in result.error
    assert listener.gaps and all(reason.startswith("ffmpeg ended early") for _, _, reason in listener.gaps)
    assert "Protocol 'file' not on whitelist" in (folder / "ffmpeg.log").read_text()
    assert sorted_parts(folder) == [] and not (folder / "recording.mka").exists()
    written = b"".join(path.read_bytes() for path in folder.iterdir() if path.is_file())
    assert not any(sample in written for sample in samples), "no byte of the local file was copied"


# Icecast with its default burst-on-connect


def test_an_icecast_mp3_capture_trims_the_burst_and_admin_titles_become_chapters(tmp_path: Path,
                                                                                icecast: Icecast) -> None:
    """Regression: ffmpeg's format probe of an MP3 joined mid-frame (any Icecast mount) held back all output
    for ~4.5 s with the default burst (~8.4 s without): a 4 s window recorded nothing."""
    feeder(icecast, "/live.mp3").wait_on_air(5)  # a full burst starts mid-stream, not at the stream's head
    first, second = f"First Show {uuid.uuid4().hex[:6]}", f"Second Show {uuid.uuid4().hex[:6]}"
    icecast.set_title("/live.mp3", first)
    # icecast sends a new title at its next metadata interval (16000 bytes: 1 s here), so change it at 1.5 s
    result, listener, _ = record(tmp_path, icecast.url("/live.mp3"), 4,
                                 during=[(1.5, lambda: icecast.set_title("/live.mp3", second))])
    assert result.error is None and result.file is not None, result.error
    assert codec_of(result.file) == "mp3"
    assert listener.gaps == [] and len(sorted_parts(tmp_path)) == 1
    assert parts_audio(tmp_path) >= 4 + 3, "the part begins with icecast's burst"
    assert abs(result.duration_seconds - 4) <= 0.35, "the burst is not kept"
    chapters = chapters_of(tmp_path)
    assert [title for _, title in chapters] == [first, second], chapters
    assert chapters[0][0] == 0.0 and 1.0 <= chapters[1][0] <= 3.0, chapters


# Ogg pages carry up to a second of audio each (ffmpeg's default page duration), and a part's span is measured
# from its writes, so the trim of an Ogg stream is only as exact as a page; ADTS AAC frames are ~23 ms.
@pytest.mark.parametrize("mount, codec, tolerance", [("/live.aac", "aac", 0.5),
                                                     pytest.param("/live.ogg", "vorbis", 1.0, marks=NO_VORBIS)])
def test_icecast_aac_and_vorbis_bursts_are_trimmed(tmp_path: Path, icecast: Icecast, mount: str, codec: str,
                                                   tolerance: float) -> None:
    feeder(icecast, mount).wait_on_air(3)  # both bursts hold at least 2 s by then
    result, listener, _ = record(tmp_path, icecast.url(mount), 4)
    assert result.error is None and result.file is not None, result.error
    assert codec_of(result.file) == codec and listener.gaps == []
    assert parts_audio(tmp_path) >= 4 + 2, "the part begins with icecast's burst"
    assert abs(result.duration_seconds - 4) <= tolerance, "the burst is not kept"


def test_an_aac_stream_announced_as_audio_mpeg_is_still_recorded(tmp_path: Path, icecast: Icecast) -> None:
    """Some servers announce AAC as audio/mpeg: the capture falls back to ffmpeg's own detection, losing a few
    seconds (a gap) instead of the whole recording."""
    feeder(icecast, "/mislabelled.aac").wait_on_air(3)
    result, listener, _ = record(tmp_path, icecast.url("/mislabelled.aac"), 14)
    assert result.error is None and result.file is not None, result.error
    assert codec_of(result.file) == "aac"
    assert [reason for _, _, reason in listener.gaps] == ["no mp3 audio arrived although the server announced it"]
    lost = listener.gaps[0][1]
    assert 5 <= lost <= 8 and abs(result.duration_seconds - (14 - lost)) <= 1.5


def test_a_restarted_icecast_source_is_a_gap_without_duplicated_audio(tmp_path: Path, icecast: Icecast) -> None:
    mount = f"/restart-{uuid.uuid4().hex[:6]}.mp3"
    icecast.feed(mount, "mp3")
    times: dict[str, float] = {}
    errors: list[BaseException] = []

    def kill() -> None:
        times["killed"] = time.monotonic()  # its audio ends before this
        feeder(icecast, mount).stop(kill=True)

    def restart() -> None:
        times["restarted"] = time.monotonic()  # the new feeder's audio starts after this
        try:
            icecast.feed(mount, "mp3", frequency=660)  # returns once the mount is live again
        except BaseException as error:  # reported by the test below
            errors.append(error)

    try:
        result, listener, _ = record(tmp_path, icecast.url(mount), 6, during=[(2.0, kill), (3.5, restart)])
    finally:
        for source in [source for source in icecast.feeders if source.mount == mount]:
            source.stop()
    assert not errors, errors
    assert result.error is None and result.file is not None, result.error
    assert listener.gaps and listener.gaps[0][2].startswith("ffmpeg ended early"), listener.gaps
    assert len(sorted_parts(tmp_path)) == 2
    assert abs(result.duration_seconds - (6 - listener.lost)) <= 0.6, (result.duration_seconds, listener.gaps)
    off_air = times["restarted"] - times["killed"]  # no audio exists for this long
    assert result.duration_seconds <= 6 - off_air + 0.35, "no audio is heard twice (or made up)"
