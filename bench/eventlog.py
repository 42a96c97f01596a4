"""Event log benchmark: our costs next to the bare operation they are built on, measured in the same run.

    .venv/bin/python bench/eventlog.py [--appends 500] [--events 100000]

Prints appends/s (fsync per event; group commit with concurrent writers), p50/p99 append latency next to a bare
write+fsync of the same bytes, and replay time of a log next to a bare json.loads loop over the same file.
Targets: append p99 <= 2x bare fsync; replay <= 2x bare parsing. Ratios, not absolute times: machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recorder.eventlog import (
    EventLog,  # noqa: E402
    utc_now,  # noqa: E402
)
from recorder.events import Event, StreamConfig, StreamCreated, encode  # noqa: E402
from recorder.store import Store  # noqa: E402


def payload(number: int) -> StreamCreated:
    return StreamCreated(number, StreamConfig(f"Show {number}", "http://127.0.0.1:8000/live.mp3",
                                              artist="Some Artist", album="Weekly", album_artist="Station"))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bare_fsync_latencies(folder: Path, line: bytes, count: int) -> list[float]:
    fd = os.open(folder / "bare.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        os.write(fd, line)
        os.fsync(fd)
        samples.append(time.perf_counter() - start)
    os.close(fd)
    return samples


def append_latencies(folder: Path, count: int) -> list[float]:
    log, _ = EventLog.open(folder / "events.jsonl")
    samples = []
    for number in range(count):
        start = time.perf_counter()
        log.append([payload(number + 1)], "bench")
        samples.append(time.perf_counter() - start)
    log.close()
    return samples


def concurrent_throughput(folder: Path, writers: int, per_writer: int) -> float:
    log, _ = EventLog.open(folder / f"concurrent-{writers}.jsonl")

    def work(offset: int) -> None:
        for number in range(per_writer):
            log.append([payload(offset + number)], "bench")

    threads = [threading.Thread(target=work, args=(n * per_writer,)) for n in range(writers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    log.close()
    return writers * per_writer / elapsed


def replay_versus_parsing(folder: Path, count: int) -> tuple[float, float, float]:
    path = folder / "big.jsonl"
    at = utc_now()
    with open(path, "w") as file:
        for number in range(1, count + 1):
            file.write(encode(Event(number, at, "bench", payload(number))) + "\n")
    best_bare = best_orjson = best_ours = float("inf")
    for _ in range(3):  # best of three, alternating, so all see the same cache and noise
        start = time.perf_counter()
        with open(path, "rb") as file:
            for line in file.read().split(b"\n")[:-1]:
                json.loads(line)
        best_bare = min(best_bare, time.perf_counter() - start)
        start = time.perf_counter()
        with open(path, "rb") as file:
            for line in file.read().split(b"\n")[:-1]:
                orjson.loads(line)
        best_orjson = min(best_orjson, time.perf_counter() - start)
        start = time.perf_counter()
        store = Store.open(path)  # what a start does: lock, read, check, decode, project
        best_ours = min(best_ours, time.perf_counter() - start)
        assert store.read(lambda views: views.last_seq) == count
        store.close()
    return best_bare, best_orjson, best_ours


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=500)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parents[1]) as tmp:
        folder = Path(tmp)
        line = (encode(Event(1, utc_now(), "bench", payload(1))) + "\n").encode()
        bare = bare_fsync_latencies(folder, line, args.appends)
        ours = append_latencies(folder, args.appends)
        print(f"append latency, fsync per event ({args.appends} appends):")
        for name, fraction in (("p50", 0.5), ("p99", 0.99)):
            print(f"  {name}: ours {percentile(ours, fraction) * 1e3:.3f} ms, bare write+fsync "
                  f"{percentile(bare, fraction) * 1e3:.3f} ms, ratio {percentile(ours, fraction) / percentile(bare, fraction):.2f}")
        single = len(ours) / sum(ours)
        print(f"appends/s: one writer {single:.0f}/s (bare {len(bare) / sum(bare):.0f}/s)")
        for writers in (4, 16):
            rate = concurrent_throughput(folder, writers, max(1, args.appends // writers * 2))
            print(f"appends/s: {writers} concurrent writers with group commit {rate:.0f}/s "
                  f"({rate / single:.1f}x one writer)")
        bare_parse, bare_orjson, ours_replay = replay_versus_parsing(folder, args.events)
        print(f"replay of {args.events} events into the views: ours {ours_replay:.3f} s; bare json.loads loop "
              f"{bare_parse:.3f} s, ratio {ours_replay / bare_parse:.2f}; bare orjson.loads loop (the parser we use) "
              f"{bare_orjson:.3f} s, ratio {ours_replay / bare_orjson:.2f}")
        print(f"(median of bare fsync {statistics.median(bare) * 1e3:.3f} ms on {folder})")


if __name__ == "__main__":
    main()
