"""Capturing one session's audio: the interface the runner calls.

A capture runs in its own thread until `job.deadline` (a time.monotonic() instant: the window's end by the
runner's clock, immune to wall-clock jumps) or until `stop` is set, and returns what it recorded.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .events import StreamConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordingJob:
    session_id: int
    stream_id: int
    stream: StreamConfig
    part: int
    deadline: float
    folder: Path


@dataclass(frozen=True)
class CaptureResult:
    """The finished file (inside the recordings folder) or the reason there is none."""

    file: Path | None
    size_bytes: int = 0
    duration_seconds: float = 0.0
    error: str | None = None


Capture = Callable[[RecordingJob, threading.Event], CaptureResult]


# -- the ffmpeg capture -------------------------------------------------------------------------------------

# Protocols ffmpeg may open for a stream URL (and for what an HLS playlist names): never file, concat, data...
PROTOCOL_WHITELIST = "http,https,tcp,tls,crypto,rtmp,rtmps,hls,httpproxy"
RW_TIMEOUT_SECONDS = 15
RETRY_PAUSE_SECONDS = 2.0
MIN_PART_SECONDS = 1.0


def capture_argv(url: str, output: Path, seconds: float) -> list[str]:
    """The ffmpeg command for one part: copy the first audio stream into Matroska for `seconds`.

    Matroska takes MP3, AAC, Vorbis and Opus as they come and stays readable if ffmpeg is killed.
    """
    reconnect = ["-reconnect", "1", "-reconnect_streamed", "1", "-reconnect_on_network_error", "1",
                 "-reconnect_delay_max", "5"] if url.lower().startswith(("http:", "https:")) else []
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-y",
            "-protocol_whitelist", PROTOCOL_WHITELIST, "-rw_timeout", str(RW_TIMEOUT_SECONDS * 1_000_000),
            *reconnect, "-i", url, "-map", "0:a:0", "-c", "copy", "-t", f"{seconds:.3f}", "-f", "matroska",
            str(output)]


def ffmpeg_capture(job: RecordingJob, stop: threading.Event) -> CaptureResult:
    """Record until the deadline, starting ffmpeg again for the rest of the window whenever it exits early."""
    job.folder.mkdir(parents=True, exist_ok=True)
    with open(job.folder / "ffmpeg.log", "ab") as ffmpeg_log:  # a file, not a pipe: ffmpeg never blocks on it
        index = 0
        while not stop.is_set():
            remaining = job.deadline - time.monotonic()
            if remaining < MIN_PART_SECONDS:
                break
            output = job.folder / f"part-{job.part:02d}-{index:03d}.mka"
            process = subprocess.Popen(capture_argv(job.stream.url, output, remaining), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=ffmpeg_log)
            _wait(process, stop, job.deadline)
            index += 1
            if job.deadline - time.monotonic() >= MIN_PART_SECONDS and not stop.is_set():
                log.warning("Stream connection failed for session %s (ffmpeg exit %s); retrying",
                            job.session_id, process.returncode)
                stop.wait(RETRY_PAUSE_SECONDS)
    parts = [part for part in sorted(job.folder.glob("part-*.mka")) if part.stat().st_size > 0]
    if not parts:
        return CaptureResult(None, error=f"Stream connection failed: nothing was recorded from {job.stream.url} "
                                         f"(see {job.folder / 'ffmpeg.log'})")
    return join_parts(parts, job.folder / "recording.mka")


def _wait(process: subprocess.Popen[bytes], stop: threading.Event, deadline: float) -> None:
    """Wait for ffmpeg; ask it to finish (SIGTERM lets it close the file) at stop or a little past the deadline."""
    while process.poll() is None:
        if stop.is_set() or time.monotonic() > deadline + RW_TIMEOUT_SECONDS:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return
        stop.wait(0.2)


def join_parts(parts: list[Path], output: Path) -> CaptureResult:
    """Join parts losslessly (stream copy) into one file."""
    listing = output.with_suffix(".parts.txt")
    listing.write_text("".join(f"file '{part.name}'\n" for part in parts))
    result = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat",
                             "-safe", "0", "-i", str(listing), "-c", "copy", "-f", "matroska", str(output)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return CaptureResult(None, error=f"FFmpeg error joining {len(parts)} parts: {result.stderr.strip()[-300:]}")
    return CaptureResult(output, output.stat().st_size, probe_duration(output))


def probe_duration(path: Path) -> float:
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                             str(path)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    try:
        return round(float(result.stdout.strip()), 3)
    except ValueError:
        return 0.0
