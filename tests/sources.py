"""Real stream sources on loopback for the capture: Icecast2 mounts fed by ffmpeg, and a live HLS playlist.

Every process is started here with its output in a file (never a pipe), waited for by polling what a listener
would see (the mount answers 200, the playlist lists segments), and stopped by its PID. A fixture that uses
these puts `stop()` in a `finally`, so nothing outlives a failed test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Callable
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import psutil
import requests

from recorder.events import StreamConfig
from recorder.parts import CaptureResult
from recorder.recording import CaptureOptions, LiveProgress, RecordingJob, make_ffmpeg_capture

from conftest import free_port

ICECAST_DEFAULT_BURST = 65535  # icecast2's own default, written out so the tests do not depend on it
START_TIMEOUT = 15.0
# The capture as test_capture runs it, with two differences: nothing here tests stalls, so the watchdog is long
# enough that a slow start on a busy machine is never called one; and it checks four times a second, because a
# title is stamped when the capture reads ffmpeg's log: with the default (once a second) a chapter starts up to a
# second after the title was heard.
OPTIONS = CaptureOptions(stall_seconds=10, rw_timeout_seconds=2, first_retry_seconds=0.2, max_retry_seconds=0.5,
                         min_free_bytes=0, check_seconds=0.25)
ENCODINGS = {  # codec: (ffmpeg output arguments, the Content-Type the mount announces)
    "mp3": (["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"], "audio/mpeg"),
    "aac": (["-c:a", "aac", "-b:a", "96k", "-f", "adts"], "audio/aac"),
    # pages of 0.2 s, not ffmpeg's 1 s: a capture's ffmpeg exits only when its next packet arrives after SIGTERM,
    # so with 1 s pages a 4 s window came out 4.2-4.8 s long
    "ogg": (["-c:a", "libvorbis", "-f", "ogg", "-page_duration", "200000"], "application/ogg"),
}


@lru_cache(maxsize=None)
def has_encoder(name: str) -> bool:
    """Whether this ffmpeg can encode with `name` (libvorbis is optional in ffmpeg builds)."""
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30)
    return any(line.split()[1:2] == [name] for line in listing.stdout.splitlines() if line.startswith(" "))


def tail(path: Path, size: int = 2000) -> str:
    """The end of a process's output file, for failure messages."""
    return path.read_text(errors="replace")[-size:] if path.exists() else "(no output)"


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes], output: Path,
               timeout: float = START_TIMEOUT) -> None:
    """Poll `ready` until it holds; fail at once if `process` died, and after `timeout` seconds at the latest."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what}: exited with {process.returncode}:\n{tail(output)}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready within {timeout} s:\n{tail(output)}")


def stop_process(process: subprocess.Popen[bytes], kill: bool = False, timeout: float = 5) -> None:
    """End one process we started, by its PID: SIGTERM (or SIGKILL) and a bounded wait."""
    stop_processes([process], kill, timeout)


def stop_processes(processes: list[subprocess.Popen[bytes]], kill: bool = False, timeout: float = 5) -> None:
    """Signal all first, then wait for each (they shut down in parallel); SIGKILL whatever outlives `timeout`."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.kill() if kill else process.terminate()
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def answers(url: str, status: int | None = None) -> bool:
    """Whether `url` answers over HTTP (with `status`, if given); reads the headers only."""
    try:
        with requests.get(url, stream=True, timeout=1) as response:
            return status is None or response.status_code == status
    except requests.RequestException:  # not listening yet
        return False


def spawn(argv: list[str], output: Path) -> subprocess.Popen[bytes]:
    """Start a process with its output in a file: a pipe nobody reads would block it once full."""
    with open(output, "ab") as sink:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)


def sine(frequency: int = 440) -> list[str]:
    """ffmpeg input arguments of an endless tone, read at its real rate (a live source)."""
    return ["-re", "-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=44100"]


def codec_of(path: Path) -> str:
    """The codec of a recording's first audio stream, as ffprobe names it."""
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                             "stream=codec_name", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                            timeout=30)
    return result.stdout.strip()


@dataclass
class Listener:
    """The capture's listener: keeps the gaps it reports."""

    progress: LiveProgress = field(default_factory=LiveProgress)
    gaps: list[tuple[datetime, float, str]] = field(default_factory=list)

    def gap(self, started: datetime, seconds: float, reason: str) -> None:
        self.gaps.append((started, seconds, reason))

    @property
    def lost(self) -> float:
        return sum(seconds for _, seconds, _ in self.gaps)


def record(folder: Path, url: str, seconds: float, options: CaptureOptions = OPTIONS,
           during: list[tuple[float, Callable[[], object]]] | None = None) -> tuple[CaptureResult, Listener, float]:
    """Capture `seconds` from `url`, running the (delay, action) pairs meanwhile; returns the wall time taken."""
    listener = Listener()
    job = RecordingJob(1, 1, StreamConfig("Test", url), 1, time.monotonic() + seconds, folder)
    timers = [threading.Timer(delay, action) for delay, action in during or []]
    for timer in timers:
        timer.start()
    started = time.monotonic()
    try:
        result = make_ffmpeg_capture(options)(job, threading.Event(), listener)
    finally:
        for timer in timers:
            timer.cancel()
            timer.join(timeout=START_TIMEOUT)
    return result, listener, time.monotonic() - started


@dataclass
class Feeder:
    """An ffmpeg source client feeding one Icecast mount."""

    mount: str
    process: subprocess.Popen[bytes]
    output: Path
    on_air_since: float = 0.0  # time.monotonic() when the mount first answered

    def wait_on_air(self, seconds: float) -> None:
        """Wait until the mount has been live `seconds` (its burst-on-connect backlog fills at the real rate)."""
        time.sleep(max(0.0, self.on_air_since + seconds - time.monotonic()))

    def stop(self, kill: bool = False) -> None:
        stop_process(self.process, kill=kill)


class Icecast:
    """An icecast2 on a free loopback port, run from a generated config in its own temporary folder.

    icecast2 refuses to run as root, so the config drops to nobody (`changeowner`): its folder is a fresh
    `mkdtemp` under /tmp (pytest's tmp folders are private to root), removed again by `stop()`.
    """

    def __init__(self, burst_size: int = ICECAST_DEFAULT_BURST, mounts: dict[str, dict[str, str]] | None = None,
                 webroot_files: dict[str, Path] | None = None) -> None:
        self.burst_size = burst_size
        self.mounts = mounts or {}  # per-mount settings, e.g. {"/x.ogg": {"burst-size": "16384"}}
        self.password = secrets.token_hex(8)
        self.root = Path(tempfile.mkdtemp(prefix="icecast-test-"))
        self.webroot = self.root / "web" if webroot_files else Path("/usr/share/icecast2/web")
        self.webroot_files = webroot_files or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.feeders: list[Feeder] = []
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, mount: str) -> str:
        return self.base + mount

    def config(self) -> str:
        logs = self.root / "log"
        mounts = "".join(f"<mount><mount-name>{escape(name)}</mount-name>"
                         + "".join(f"<{key}>{escape(value)}</{key}>" for key, value in settings.items())
                         + "</mount>" for name, settings in self.mounts.items())
        return f"""<icecast>
  <location>loopback</location><admin>test@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>50</clients><sources>10</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout><source-timeout>10</source-timeout>
    <burst-size>{self.burst_size}</burst-size></limits>
  <authentication><source-password>{self.password}</source-password><admin-user>admin</admin-user>
    <admin-password>{self.password}</admin-password></authentication>
  <listen-socket><port>{self.port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  {mounts}
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{logs}</logdir><webroot>{self.webroot}</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot><pidfile>{logs / "icecast.pid"}</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>
</icecast>
"""

    def start(self) -> None:
        """Run icecast2 (it stays in the foreground) and return once it answers HTTP; a taken port is retried."""
        self.root.chmod(0o755)
        logs = self.root / "log"
        logs.mkdir()
        shutil.chown(logs, "nobody", "nogroup")
        if self.webroot_files:
            self.webroot.mkdir()
            for name, source in self.webroot_files.items():
                shutil.copy(source, self.webroot / name)
        for attempt in range(3):
            self.port = free_port()
            (self.root / "icecast.xml").write_text(self.config())
            output = self.root / "icecast.out"
            self.process = spawn(["icecast2", "-c", str(self.root / "icecast.xml")], output)
            try:
                wait_until(lambda: answers(self.base + "/admin/stats"), "icecast2", self.process, output)
            except RuntimeError:
                if self.process.poll() is None or attempt == 2:
                    raise
                continue  # exited at once: most likely someone took the port in between
            self._check_pid()
            return

    def _check_pid(self) -> None:
        """icecast2 drops to nobody in the same process: the PID we hold is the server (checked, not assumed)."""
        assert self.process is not None
        pidfile = self.root / "log" / "icecast.pid"
        wait_until(pidfile.exists, "icecast2 pidfile", self.process, self.root / "icecast.out")
        pid = int(pidfile.read_text().strip())
        server = psutil.Process(self.process.pid)
        if pid != self.process.pid or server.username() != "nobody":
            raise RuntimeError(f"icecast2 is not the process we started ({pid} vs {self.process.pid}, "
                               f"{server.username()})")

    def live_mounts(self) -> set[str]:
        """The mounts a source is connected to, from the admin statistics (a webroot file can answer 200 too)."""
        try:
            response = requests.get(self.base + "/admin/stats", auth=("admin", self.password), timeout=1)
        except requests.RequestException:  # not listening (any more)
            return set()
        if response.status_code != 200:
            return set()
        return {source.get("mount", "") for source in ElementTree.fromstring(response.content).iter("source")}

    def feed(self, mount: str, codec: str, frequency: int = 440, content_type: str | None = None) -> Feeder:
        """Start an ffmpeg source client on `mount`; returns once the mount is live and answers listeners.

        `content_type` overrides what the mount announces (stations do mislabel their streams)."""
        return self.wait_live(self.start_feeder(mount, codec, frequency, content_type))

    def start_feeder(self, mount: str, codec: str, frequency: int = 440, content_type: str | None = None) -> Feeder:
        """`feed` without the wait: start several, then `wait_live` for each."""
        output = self.root / f"feeder-{mount.strip('/')}.out"
        arguments, announced = ENCODINGS[codec]
        process = spawn(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", *sine(frequency), *arguments,
                         "-content_type", content_type or announced,
                         f"icecast://source:{self.password}@127.0.0.1:{self.port}{mount}"], output)
        feeder = Feeder(mount, process, output)
        self.feeders.append(feeder)
        return feeder

    def wait_live(self, feeder: Feeder) -> Feeder:
        """Wait until the feeder's mount is live (listed by the admin statistics) and answers listeners."""
        wait_until(lambda: feeder.mount in self.live_mounts() and answers(self.url(feeder.mount), 200),
                   f"feeder of {feeder.mount}", feeder.process, feeder.output)
        feeder.on_air_since = time.monotonic()
        return feeder

    def set_title(self, mount: str, title: str) -> None:
        """Change the ICY title through the admin API, as a source client would."""
        response = requests.get(self.base + "/admin/metadata", auth=("source", self.password), timeout=5,
                                params={"mount": mount, "mode": "updinfo", "song": title, "charset": "UTF-8"})
        assert response.status_code == 200 and "Metadata update successful" in response.text, response.text

    def log(self) -> str:
        """The end of icecast's error log, for failure messages (the folder is gone after `stop()`)."""
        return tail(self.root / "log" / "error.log", 4000)

    def stop(self) -> None:
        """Stop the feeders and icecast2 by their PIDs (in parallel); remove the temporary folder."""
        stop_processes([feeder.process for feeder in self.feeders] + ([self.process] if self.process else []))
        self._stop_forked()
        shutil.rmtree(self.root, ignore_errors=True)

    def _stop_forked(self) -> None:
        """Should icecast2 ever run under another PID than ours (never seen: `_check_pid`), end that one too,
        and only if it is our icecast2 (its command line names our config)."""
        pidfile = self.root / "log" / "icecast.pid"
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if not text.isdigit() or self.process is None or int(text) == self.process.pid:
            return
        try:
            if str(self.root / "icecast.xml") in psutil.Process(int(text)).cmdline():
                os.kill(int(text), signal.SIGKILL)
        except (psutil.Error, ProcessLookupError):  # already gone
            pass


class Hls:
    """A live HLS playlist: ffmpeg writes 1 s AAC segments into a folder that `python -m http.server` serves."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.encoder: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.port = 0

    def url(self, name: str = "live.m3u8") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def segments(self) -> int:
        """How many segments the served playlist lists now (0 while nothing answers)."""
        try:
            response = requests.get(self.url(), timeout=1)
        except requests.RequestException:  # not listening yet
            return 0
        lines = response.text.splitlines() if response.status_code == 200 else []
        return sum(line.endswith(".ts") for line in lines)

    def start(self) -> None:
        """Start the encoder and the web server; return once the server answers (see `wait_ready`)."""
        # temp_file: a segment appears under its name only when complete (the playlist is always renamed in)
        self.encoder = spawn(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", *sine(),
                              "-c:a", "aac", "-b:a", "96k", "-f", "hls", "-hls_time", "1", "-hls_list_size", "5",
                              "-hls_flags", "delete_segments+temp_file", str(self.folder / "live.m3u8")],
                             self.folder.parent / "hls-encoder.out")
        for attempt in range(3):
            self.port = free_port()
            served = self.folder.parent / "hls-server.out"
            self.server = spawn([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(self.port),
                                 "--directory", str(self.folder)], served)
            try:
                wait_until(lambda: answers(self.url("missing")), "http.server", self.server, served)
                return
            except RuntimeError:
                if self.server.poll() is None or attempt == 2:
                    raise

    def wait_ready(self, segments: int = 3) -> None:
        """Return once the served playlist lists `segments` segments (about a second each)."""
        assert self.encoder is not None, "start() first"
        wait_until(lambda: self.segments() >= segments, "HLS playlist", self.encoder,
                   self.folder.parent / "hls-encoder.out")

    def stop(self) -> None:
        """Stop the encoder and the web server by their PIDs."""
        stop_processes([process for process in (self.encoder, self.server) if process is not None])
