"""Scheduling benchmark: how late sessions start after their fire time, and what next-run lists cost.

    .venv/bin/python bench/scheduling.py [--fires 50]

1. Fire latency: `--fires` schedules whose windows open one second apart (padding 0..N-1 s before the same
   minute) on a real runner and event log; latency = session.started time - window start, both on one clock.
   Target p99 <= 0.5 s. The capture is a stand-in that returns at once (capture cost is bench/recording.py's).
2. Next runs: 5 next fire times for 1000 schedules with our cron next to croniter (a test-only oracle) doing
   the same, in the same run.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from croniter import croniter  # noqa: E402

from recorder import cron  # noqa: E402
from recorder.commands import Commands  # noqa: E402
from recorder.delivery import DeliveryOptions  # noqa: E402
from recorder.eventlog import read_events  # noqa: E402
from recorder.parts import CaptureResult  # noqa: E402
from recorder.pipeline import FinishOptions  # noqa: E402
from recorder.recording import RecordingJob  # noqa: E402
from recorder.runner import Runner  # noqa: E402
from recorder.store import Store  # noqa: E402


def instant_capture(job: RecordingJob, stop: threading.Event, listener: object) -> CaptureResult:
    return CaptureResult(None, error="benchmark stand-in")


def fire_latency(fires: int) -> list[float]:
    minute = (datetime.now(timezone.utc) + timedelta(minutes=2)).replace(second=0, microsecond=0)
    offset = minute - timedelta(seconds=fires + 1) - datetime.now(timezone.utc)

    def clock() -> datetime:
        return datetime.now(timezone.utc) + offset

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = Store.open(folder / "events.jsonl", clock)
        commands = Commands(store)
        finishing = FinishOptions(folder / "recordings", folder / "artwork", "UTC", "{stream}", "{stream}", "128k")
        delivering = DeliveryOptions(folder / "recordings", folder / "config", 0, 60, False)
        runner = Runner(store, commands, instant_capture, finishing, delivering, fires, clock)
        runner.start()
        stream_id = commands.create_stream({"name": "Bench", "url": "http://127.0.0.1:9/x"}, "bench")[0].data.stream_id
        for pad in range(fires):
            commands.create_schedule({"stream_id": stream_id, "cron": "* * * * *", "duration_minutes": 1,
                                      "pad_before_seconds": pad}, "bench")
        deadline = time.monotonic() + fires + 15
        while time.monotonic() < deadline:
            started = [e for e in read_events(folder / "events.jsonl") if e.type == "session.started"]
            if len(started) >= fires:
                break
            time.sleep(0.5)
        runner.stop()
        store.close()
        events = list(read_events(folder / "events.jsonl"))
    windows = {e.data.session_id: e.data.window_start for e in events if e.type == "session.scheduled"}
    return [(e.at - windows[e.data.session_id]).total_seconds() for e in events if e.type == "session.started"]


def random_expressions(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    shapes = ["{m} {h} * * {dow}", "{m} */{step} * * *", "{m} {h} {dom} * *", "{m} {h},{h2} * * 1-5",
              "*/{mstep} * * * *", "{m} {h} * {mon} 0"]
    return [rng.choice(shapes).format(m=rng.randrange(60), h=rng.randrange(24), h2=rng.randrange(24),
                                      dow=rng.randrange(8), step=rng.choice([2, 3, 4, 6]),
                                      dom=rng.randrange(1, 29), mstep=rng.choice([5, 10, 15, 30]),
                                      mon=rng.randrange(1, 13))
            for _ in range(count)]


def next_runs_cost(count: int) -> tuple[float, float]:
    expressions = random_expressions(count)
    zones = ["UTC", "Europe/Berlin", "America/New_York"]
    start = datetime(2026, 3, 20, tzinfo=timezone.utc)
    begin = time.perf_counter()
    for number, expression in enumerate(expressions):
        cron.next_runs(cron.parse(expression), start, cron.zone(zones[number % 3]), 5)
    ours = time.perf_counter() - begin
    begin = time.perf_counter()
    for number, expression in enumerate(expressions):
        iterator = croniter(expression, start.astimezone(cron.zone(zones[number % 3])))
        for _ in range(5):
            iterator.get_next(datetime)
    return ours, time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fires", type=int, default=50)
    args = parser.parse_args()
    latencies = sorted(fire_latency(args.fires))
    if len(latencies) < args.fires:
        print(f"only {len(latencies)} of {args.fires} sessions started")
    p50, p99 = latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"fire -> session.started over {len(latencies)} fires: p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, "
          f"max {latencies[-1] * 1e3:.1f} ms (target p99 <= 500 ms; ratio to target {p99 / 0.5:.4f})")
    ours, theirs = next_runs_cost(1000)
    print(f"5 next runs for 1000 schedules: ours {ours * 1e3:.0f} ms, croniter {theirs * 1e3:.0f} ms, "
          f"ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
