"""Capturing one session's audio with ffmpeg until the window's end by the clock, whatever the network does.

Each ffmpeg run is a *part*: the audio copied as it comes (MP3, AAC, Vorbis, Opus) into Matroska, which stays
readable if ffmpeg is killed. When ffmpeg exits early (drop, HTTP error, reset) or its output stops growing
(stall), the gap is reported and a new part starts for the rest of the window. ffmpeg's own `-reconnect`
options are deliberately not used: a reconnect inside ffmpeg hides the gap and splices a replayed backlog into
the middle of a part, where it can no longer be cut out; a new part per connection gives an exact gap log and
a clean trim.

Burst-on-connect: a server may send several seconds of old audio at once when a listener connects. A part's
file name holds the wall-clock time ffmpeg started (and, when we end it, the time we stopped it), so the part
covers that much real time; `parts.py` skips any audio beyond it at the part's head when the parts are joined.

ffmpeg's stderr goes to a file, never a pipe (a pipe nobody reads blocks ffmpeg once full). The file is read as
it grows for ICY `StreamTitle` changes, which become chapters.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

import psutil

from .events import StreamConfig
from .parts import CaptureResult, join_session, last_title

log = logging.getLogger(__name__)

# Protocols ffmpeg may open for a stream URL (and for what an HLS playlist names): never file, concat, data...
PROTOCOL_WHITELIST = "http,https,tcp,tls,crypto,rtmp,rtmps,hls,httpproxy"
DEFAULT_USER_AGENT = "AudioStreamRecorder/0.1 (+ffmpeg)"
MIN_PART_SECONDS = 1.0
ORPHAN_GRACE_SECONDS = 300
FORMAT_GRACE_SECONDS = 6.0  # output within this long, or the announced format was wrong
# What a server's Content-Type says about the stream, as ffmpeg input formats. Naming the format skips ffmpeg's
# probe, which on an MP3 joined mid-frame (every Icecast mount) holds back all output for about 8 seconds.
# Named here, ADTS-to-Matroska conversion runs in ffmpeg itself, which drops a bad packet and goes on; the copy
# the muxer would insert on its own ends the whole run at the first false frame header (a mid-frame join).
ADTS_TO_MATROSKA = ["-bsf:a", "aac_adtstoasc"]
INPUT_FORMATS = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/aac": "aac", "audio/aacp": "aac",
                 "audio/x-aac": "aac", "application/ogg": "ogg", "audio/ogg": "ogg"}
TITLE_LINE = re.compile(rb"Metadata update for StreamTitle: ?(.*?)\r?$", re.MULTILINE)


@dataclass(frozen=True)
class RecordingJob:
    session_id: int
    stream_id: int
    stream: StreamConfig
    part: int
    deadline: float  # time.monotonic() at the window's end (by the runner's clock)
    folder: Path


@dataclass
class LiveProgress:
    """What a running capture has done so far: written by its thread, read by the API (not events)."""

    bytes: int = 0
    bitrate_kbps: float | None = None
    title: str | None = None  # gaps are not counted here: they are events, in the session's view


class CaptureListener(Protocol):
    progress: LiveProgress

    def gap(self, started: datetime, seconds: float, reason: str) -> None: ...


Capture = Callable[[RecordingJob, threading.Event, CaptureListener], CaptureResult]


@dataclass(frozen=True)
class CaptureOptions:
    stall_seconds: float = 20.0
    rw_timeout_seconds: float = 10.0
    first_retry_seconds: float = 0.5
    max_retry_seconds: float = 1.0  # an outage costs at most about a second more than itself
    min_free_bytes: int = 200 * 1024 * 1024
    loglevel: str = "verbose"  # verbose: ffmpeg logs ICY title changes
    debug_timestamps: bool = False  # ffmpeg's -debug_ts: a line per packet, for chasing timing problems
    check_seconds: float = 1.0  # how often progress, titles, stalls and disk are looked at


def capture_argv(stream: StreamConfig, output: Path, seconds: float, options: CaptureOptions,
                 input_format: str | None = None) -> list[str]:
    """The ffmpeg command of one part: copy the first audio stream into Matroska, no shell, no `file:`.

    We stop ffmpeg at the window's end ourselves; `-t` is only a backstop so that an ffmpeg orphaned by a
    crash ends after the window even if no recorder is started again to settle it. It counts audio, so it
    leaves room for twice the window plus five minutes of audio a server may replay on connect.
    """
    network = ["-user_agent", stream.user_agent or DEFAULT_USER_AGENT] \
        if stream.url.lower().startswith(("http:", "https:")) else []
    return ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", options.loglevel, "-y",
            *(["-debug_ts"] if options.debug_timestamps else []),
            "-protocol_whitelist", PROTOCOL_WHITELIST, "-rw_timeout", str(int(options.rw_timeout_seconds * 1e6)),
            *network, *(["-f", input_format] if input_format else []), "-i", stream.url, "-map", "0:a:0",
            "-c", "copy", *(ADTS_TO_MATROSKA if input_format == "aac" else []),
            "-t", f"{seconds * 2 + ORPHAN_GRACE_SECONDS:.0f}",
            "-f", "matroska",
            # a cluster a second, flushed at once: the file grows steadily (the stall watchdog watches it)
            # and a killed ffmpeg loses at most a second
            "-cluster_time_limit", "1000", "-flush_packets", "1", str(output.resolve())]


def make_ffmpeg_capture(options: CaptureOptions = CaptureOptions()) -> Capture:
    def capture(job: RecordingJob, stop: threading.Event, listener: CaptureListener) -> CaptureResult:
        return _Capture(job, stop, listener, options).run()

    return capture


@dataclass
class _Capture:
    job: RecordingJob
    stop: threading.Event
    listener: CaptureListener
    options: CaptureOptions
    finished_bytes: int = 0
    error: str | None = None
    _log_offset: int = 0
    _title: str | None = None
    _input_format: str | None = None
    _stopped_at: float | None = None
    _rate_window: list[tuple[float, int]] = field(default_factory=list)

    def run(self) -> CaptureResult:
        self.job.folder.mkdir(parents=True, exist_ok=True)
        self._title = last_title(self.job.folder)
        gap_started: float | None = None
        gap_reason = ""
        retry = self.options.first_retry_seconds
        index = 0
        with open(self.job.folder / "ffmpeg.log", "ab") as ffmpeg_log:  # a file: ffmpeg never blocks on it
            self._log_offset = ffmpeg_log.tell()
            while not self.stop.is_set() and self._remaining() >= MIN_PART_SECONDS and not self.error:
                if self._disk_is_low():
                    break
                if index == 0:
                    self._input_format = input_format_of(self.job.stream, self.options.rw_timeout_seconds)
                started = time.time()  # after the format check: a part's span is ffmpeg's time alone
                output = self.job.folder / f"part-{self.job.part:02d}-{index:03d}-{int(started * 1000)}.mka"
                part_log_start = self._log_offset = max(self._log_offset, ffmpeg_log.tell())
                process = subprocess.Popen(capture_argv(self.job.stream, output, self._remaining(), self.options,
                                                        self._input_format),
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ffmpeg_log)
                self._stopped_at = None
                outcome = self._supervise(process, output, part_log_start)
                index += 1
                if self._stopped_at is not None and output.exists():
                    output = output.rename(output.with_name(f"{output.stem}-{int(self._stopped_at * 1000)}.mka"))
                produced = output.stat().st_size if output.exists() else 0
                self.finished_bytes += produced
                if not produced and self._input_format and outcome.startswith("no "):
                    log.warning("session %s: the server's Content-Type said %s, but ffmpeg found none; letting "
                                "ffmpeg detect the format from now on", self.job.session_id, self._input_format)
                    self._input_format = None  # some servers announce AAC as audio/mpeg
                if produced:  # a part that recorded nothing (refused, HTTP error) is still part of the gap
                    retry = self.options.first_retry_seconds
                    if gap_started is not None:
                        self._report_gap(gap_started, started, gap_reason)
                        gap_started = None
                if outcome in ("deadline", "stopped"):
                    break
                # nothing recorded from this part: the loss began when it started, not when it ended
                gap_started, gap_reason = gap_started or (time.time() if produced else started), outcome
                log.warning("Stream connection failed for session %s: %s; reconnecting",
                            self.job.session_id, outcome)
                self.stop.wait(min(retry, max(0.0, self._remaining())))
                retry = min(retry * 2, self.options.max_retry_seconds)
        if gap_started is not None and not self.stop.is_set():
            self._report_gap(gap_started, time.time(), gap_reason)
        return self._finish()

    def _remaining(self) -> float:
        return self.job.deadline - time.monotonic()

    def _supervise(self, process: subprocess.Popen[bytes], output: Path, log_start: int) -> str:
        """Watch one ffmpeg run; end it at the deadline, at stop, or when its output stalls."""
        last_size, last_growth = -1, time.monotonic()
        next_disk_check = time.monotonic() + 5
        exited = _exit_watch(process)
        while True:
            exited.wait(max(0.0, min(self.options.check_seconds, self._remaining())))
            code = process.returncode if exited.is_set() else None
            size = output.stat().st_size if output.exists() else 0
            if size != last_size:
                last_size, last_growth = size, time.monotonic()
            self._update_progress(size)
            self._read_titles()
            if code is not None:
                return _exit_reason(code, self.job.folder / "ffmpeg.log", log_start)
            reason = None
            if self.stop.is_set():
                reason = "stopped"
            elif self._remaining() <= 0:
                reason = "deadline"
            elif self._input_format and size == 0 and time.monotonic() - last_growth > FORMAT_GRACE_SECONDS:
                reason = f"no {self._input_format} audio arrived although the server announced it"
            elif time.monotonic() - last_growth > self.options.stall_seconds:
                reason = f"the stream stalled (no data for {self.options.stall_seconds:.0f} s)"
            elif time.monotonic() > next_disk_check:
                next_disk_check = time.monotonic() + 5
                reason = "disk" if self._disk_is_low() else None
            if reason:
                self._stopped_at = time.time()  # what arrives after this is not part of the window
                _end(process)
                self._read_titles()
                return "stopped" if reason == "disk" else reason

    def _disk_is_low(self) -> bool:
        free = shutil.disk_usage(self.job.folder).free
        if free < self.options.min_free_bytes:
            self.error = (f"Disk space warning: only {free // 2**20} MB free in {self.job.folder.parent} "
                          f"(needs {self.options.min_free_bytes // 2**20} MB); recording stopped")
            log.warning("%s (session %s)", self.error, self.job.session_id)
        return self.error is not None

    def _update_progress(self, part_size: int) -> None:
        progress = self.listener.progress
        now = time.monotonic()
        progress.bytes = self.finished_bytes + part_size
        self._rate_window = [(t, b) for t, b in self._rate_window if now - t <= 10] + [(now, progress.bytes)]
        first_time, first_bytes = self._rate_window[0]
        if now - first_time >= 1.5:
            progress.bitrate_kbps = round((progress.bytes - first_bytes) * 8 / (now - first_time) / 1000, 1)

    def _read_titles(self) -> None:
        """Follow ffmpeg's log for ICY title changes; keep each change in titles.jsonl (survives a crash)."""
        log_path = self.job.folder / "ffmpeg.log"
        if log_path.stat().st_size <= self._log_offset:
            return  # nothing new: no need to open it
        with open(log_path, "rb") as ffmpeg_log:
            ffmpeg_log.seek(self._log_offset)
            chunk = ffmpeg_log.read()
        end = chunk.rfind(b"\n") + 1
        self._log_offset += end
        for match in TITLE_LINE.finditer(chunk[:end]):
            title = match.group(1).decode("utf-8", "replace").strip()
            if title and title != self._title:
                self._title = self.listener.progress.title = title
                with open(self.job.folder / "titles.jsonl", "a", encoding="utf-8") as titles:
                    titles.write(json.dumps({"at": time.time(), "title": title}) + "\n")

    def _report_gap(self, started: float, ended: float, reason: str) -> None:
        self.listener.gap(datetime.fromtimestamp(started, timezone.utc), round(ended - started, 3), reason)

    def _finish(self) -> CaptureResult:
        if self.error:
            return CaptureResult(None, error=self.error)
        return join_session(self.job.folder, self.job.stream.url)


def input_format_of(stream: StreamConfig, timeout: float) -> str | None:
    """The ffmpeg input format the server's Content-Type names, or None to let ffmpeg probe (HLS, RTMP, unknown)."""
    if not stream.url.lower().startswith(("http:", "https:")) or ".m3u8" in stream.url.lower():
        return None
    request = urllib.request.Request(stream.url, headers={"User-Agent": stream.user_agent or DEFAULT_USER_AGENT})
    opener = urllib.request.OpenerDirector()  # http(s) and their redirects only: no ftp:, no file:
    for handler in (urllib.request.HTTPHandler, urllib.request.HTTPSHandler, urllib.request.HTTPRedirectHandler,
                    urllib.request.HTTPErrorProcessor, urllib.request.HTTPDefaultErrorHandler):
        opener.add_handler(handler())
    try:
        with opener.open(request, timeout=min(timeout, 5)) as response:  # headers only, then close
            content_type = response.headers.get_content_type()
    except (OSError, ValueError, http.client.HTTPException):
        return None  # ffmpeg will meet the same problem and report it in words
    return INPUT_FORMATS.get(content_type)


def settle_orphans(recordings_dir: Path) -> int:
    """End ffmpeg processes a crashed run left writing into the recordings folder; returns how many.

    An orphan goes on recording while the service is down (so its part has no gap); ending it when the
    service is back closes that part cleanly before the session continues in a new one.
    """
    root = str(recordings_dir.resolve()) + "/"
    orphans = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "ffmpeg" and any(arg.startswith(root) for arg in process.info["cmdline"] or []):
            orphans.append(process)
            process.terminate()
    _, alive = psutil.wait_procs(orphans, timeout=10)
    for process in alive:
        process.kill()
    if orphans:
        log.warning("ended %d ffmpeg process(es) left running by a previous run", len(orphans))
    return len(orphans)


def _exit_reason(code: int, ffmpeg_log: Path, offset: int) -> str:
    """Why ffmpeg ended, in words: its last error line, e.g. 'HTTP error 403 Forbidden'."""
    with open(ffmpeg_log, "rb") as file:
        file.seek(offset)
        lines = [line for line in file.read().decode("utf-8", "replace").splitlines()
                 if line.strip() and not any(noise in line for noise in ("Metadata update", "Statistics:"))]
    detail = lines[-1].split("] ", 1)[-1].strip() if lines else ""
    return f"ffmpeg ended early (exit {code}){': ' + detail[:200] if detail else ''}"


def _exit_watch(process: subprocess.Popen[bytes]) -> threading.Event:
    """An event set when ffmpeg exits. `Popen.wait(timeout)` polls every 50 ms (CPython's busy loop), which for
    dozens of captures costs more CPU than the ffmpegs themselves; a thread blocked in waitpid costs nothing."""
    exited = threading.Event()

    def wait() -> None:
        process.wait()
        exited.set()

    threading.Thread(target=wait, name=f"ffmpeg-{process.pid}", daemon=True).start()
    return exited


def _end(process: subprocess.Popen[bytes]) -> None:
    """Ask ffmpeg to finish (SIGTERM lets it close the file cleanly); kill it if it does not."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


