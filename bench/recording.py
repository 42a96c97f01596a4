"""Recording benchmark against a local stream server (loopback only), ratios and errors measured in one run.

    .venv/bin/python bench/recording.py [--short 20] [--concurrent 50] [--seconds 20] [--long-minutes 8]

1. Duration error and start latency over `--short` 4 s captures (targets: error <= 0.25 s, p99 start <= 0.5 s;
   start = capture called -> the stream server has ffmpeg's request, i.e. audio is flowing to the recorder).
   CPU is compared half a second before the windows end, counting running ffmpeg processes, so the joining
   and tagging that follow a recording (reported on their own) do not blur the capture's cost.
2. `--concurrent` record-now sessions through a real `serve` process next to as many bare `ffmpeg -c copy`
   processes recording the same stream: CPU seconds and peak RSS of the whole service (server + its ffmpeg
   children) against the bare ffmpegs (target <= 1.1x), and every file complete.
3. A 10 s outage in a 25 s capture: the gap logged and the audio kept (target: gap <= outage + 1 s, nothing
   duplicated).
4. A long capture (`--long-minutes`, past the 7.6 min at which a never-read stderr pipe blocks ffmpeg) at
   ffmpeg's verbose level: it must end on time with the full duration.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from recorder.events import StreamConfig  # noqa: E402
from recorder.processing import probe_duration  # noqa: E402
from recorder.recording import CaptureOptions, LiveProgress, RecordingJob, make_ffmpeg_capture  # noqa: E402

from conftest import free_port  # noqa: E402
from streams import StreamServer, make_mp3  # noqa: E402


class Listener:
    def __init__(self) -> None:
        self.progress = LiveProgress()
        self.gaps: list[float] = []

    def gap(self, started: object, seconds: float, reason: str) -> None:
        self.gaps.append(seconds)


def capture(folder: Path, url: str, seconds: float, options: CaptureOptions) -> tuple[float, Listener]:
    """Record; returns the duration of the joined file and the listener (gaps, progress)."""
    listener = Listener()
    job = RecordingJob(1, 1, StreamConfig("Bench", url), 1, time.monotonic() + seconds, folder)
    result = make_ffmpeg_capture(options)(job, threading.Event(), listener)
    assert result.file is not None, result.error
    return result.duration_seconds, listener


def short_captures(base: Path, stream: StreamServer, count: int) -> None:
    errors, latencies = [], []
    for number in range(count):
        requests_before = len(stream.listeners_at)
        started = time.monotonic()
        duration, _ = capture(base / f"short-{number}", stream.url, 4, CaptureOptions(min_free_bytes=0))
        errors.append(abs(duration - 4))
        latencies.append(stream.listeners_at[requests_before] - started)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"{count} captures of 4 s: duration error mean {statistics.mean(errors):.3f} s, max {max(errors):.3f} s "
          f"(target <= 0.25); start latency p50 {latencies[len(latencies) // 2]:.3f} s, p99 {p99:.3f} s "
          f"(target <= 0.5)", flush=True)


def sample(processes: list[psutil.Process], stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
                total += sum(child.memory_info().rss for child in process.children(recursive=True))
            except psutil.Error:
                pass
        peak[0] = max(peak[0], total)
        stop.wait(0.5)


def cpu_seconds(process: psutil.Process) -> float:
    """CPU of a process and all its children, the running ones included."""
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
        except psutil.Error:
            pass
    return total


def service_run(base: Path, url: str, count: int, seconds: int) -> tuple[float, int, int, float]:
    """`count` record-now sessions in a real serve process: CPU seconds per second of recording while capturing
    (the API calls that started them included), peak RSS, complete files, and the CPU seconds spent after the
    windows (joining, MP3, tags), which bare ffmpeg does not do."""
    port = free_port()
    env = {**os.environ, "STATE_DIR": str(base / "state"), "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port),
           "ADMIN_PASSWORD": "bench-password", "MAX_CONCURRENT_RECORDINGS": str(count), "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "recorder", "serve"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = requests.Session()
    api.auth = ("admin", "bench-password")
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(base_url + "/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.1)
    process = psutil.Process(server.pid)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=sample, args=([process], stop, peak), daemon=True)
    sampler.start()
    before = cpu_seconds(process)
    ids, started = [], []
    for number in range(count):
        stream = api.post(base_url + "/api/streams", json={"name": f"Bench {number}", "url": url}, timeout=10).json()
        started.append(time.monotonic())
        ids.append(api.post(f"{base_url}/api/streams/{stream['id']}/record", json={"duration_seconds": seconds},
                            timeout=10).json()["session_id"])
    # Measured just before the *first* window ends: every capture still runs and none has begun joining or
    # tagging (which bare ffmpeg does not do). The later ones started later, so CPU is compared per second of
    # recording, not per run.
    measured_at = started[0] + seconds - 0.5
    time.sleep(max(0.0, measured_at - time.monotonic()))
    capture_cpu = cpu_seconds(process) - before
    recorded_seconds = sum(measured_at - at for at in started)
    deadline = time.monotonic() + 120
    sessions: list[dict] = []
    while time.monotonic() < deadline:
        sessions = [api.get(f"{base_url}/api/sessions/{sid}", timeout=10).json() for sid in ids]
        if all(s["status"] in ("completed", "failed") for s in sessions):
            break
        time.sleep(1)
    finishing_cpu = cpu_seconds(process) - before - capture_cpu
    stop.set()
    server.terminate()
    server.wait(timeout=30)
    complete = sum(1 for s in sessions if s["status"] == "completed" and abs(s["duration_seconds"] - seconds) < 1)
    return capture_cpu / recorded_seconds, peak[0], complete, finishing_cpu


def bare_run(base: Path, url: str, count: int, seconds: int) -> tuple[float, int, int]:
    """The same recordings as plain `ffmpeg -c copy` processes, the floor the service is measured against: CPU
    seconds per second of recording, peak RSS, complete files."""
    folder = base / "bare"
    folder.mkdir()
    processes = [subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", url, "-map", "0:a:0",
                                   "-c", "copy", "-t", str(seconds), str(folder / f"{n}.mp3")],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for n in range(count)]
    handles = [psutil.Process(p.pid) for p in processes]
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=sample, args=(handles, stop, peak), daemon=True)
    sampler.start()
    time.sleep(seconds - 0.5)
    used = 0.0
    for handle in handles:  # the same moment as for the service: half a second before the end
        try:
            times = handle.cpu_times()
            used += times.user + times.system
        except psutil.Error:
            pass
    for process in processes:
        process.wait()
    stop.set()
    complete = sum(1 for n in range(count) if abs(probe_duration(folder / f"{n}.mp3") - seconds) < 1)
    return used / (count * (seconds - 0.5)), peak[0], complete


def outage(base: Path, stream: StreamServer) -> None:
    def fail() -> None:
        stream.fail_status = 503
        stream.drop_all()

    def recover() -> None:
        stream.fail_status = None

    timers = [threading.Timer(5, fail), threading.Timer(15, recover)]
    for timer in timers:
        timer.start()
    duration, listener = capture(base / "outage", stream.url, 25, CaptureOptions(min_free_bytes=0))
    lost = sum(listener.gaps)
    print(f"10 s outage in a 25 s capture: gaps logged {lost:.2f} s (target <= 11), audio kept {duration:.2f} s, "
          f"window - gaps {25 - lost:.2f} s (difference {duration - (25 - lost):+.2f} s: positive means duplicated)",
          flush=True)


def long_capture(base: Path, url: str, minutes: float) -> None:
    seconds = minutes * 60
    started = time.monotonic()
    duration, listener = capture(base / "long", url, seconds, CaptureOptions(min_free_bytes=0))
    took = time.monotonic() - started
    log_size = (base / "long" / "ffmpeg.log").stat().st_size
    print(f"long capture of {minutes:g} min at verbose level: audio {duration:.1f} s of {seconds:.0f} s, took "
          f"{took:.1f} s, {len(listener.gaps)} gaps, ffmpeg log {log_size // 1024} KiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--long-minutes", type=float, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        base = Path(tmp)
        stream = StreamServer(make_mp3(base / "tone.mp3"))
        try:
            if args.short:
                short_captures(base, stream, args.short)
            if args.concurrent:
                ours = service_run(base, stream.url, args.concurrent, args.seconds)
                bare = bare_run(base, stream.url, args.concurrent, args.seconds)
                print(f"{args.concurrent} concurrent {args.seconds} s recordings: service CPU while capturing "
                      f"{ours[0] * 1000:.1f} ms per recording-second, peak RSS {ours[1] / 2**20:.0f} MiB, complete "
                      f"{ours[2]}; bare ffmpeg CPU {bare[0] * 1000:.1f} ms per recording-second, peak RSS "
                      f"{bare[1] / 2**20:.0f} MiB, complete {bare[2]}; ratios CPU "
                      f"{ours[0] / bare[0]:.2f}, RSS {ours[1] / bare[1]:.2f} (target <= 1.1); afterwards joining, "
                      f"MP3 and tags took {ours[3]:.1f} s CPU ({ours[3] / args.concurrent:.2f} s a recording)",
                      flush=True)
            outage(base, stream)
            if args.long_minutes:
                long_capture(base, stream.url, args.long_minutes)
        finally:
            stream.stop()


if __name__ == "__main__":
    main()
