"""The JSON-lines event log: the only truth of the recorder.

Appends are durable (write, then fsync) before `append`/`sync` return, so an acknowledged change survives a
crash. Writers that arrive while an fsync runs are covered by the next one (group commit). One process owns a
log at a time (an OS lock on a file beside it). A line counts only when its newline is on disk: an unterminated
tail is a write torn by a crash; opening cuts it off and keeps it aside. A bad line before the end is never
skipped: opening stops and names it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .events import Event, EventFormatError, Payload, decode, encode

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
Clock = Callable[[], datetime]


class LogLockedError(RuntimeError):
    """Another process already owns this log."""


class LogCorruptError(RuntimeError):
    """A whole line in the log cannot be read; replaying past it would silently lose history."""


class LogWriteError(RuntimeError):
    """The log could not be made durable (disk full, I/O error); the change was not made."""


@dataclass(frozen=True)
class Scan:
    """What a log's bytes hold: its whole events, where the whole lines end, and any torn tail."""

    events: list[Event]
    end: int
    torn: bytes


def scan(data: bytes) -> Scan:
    """Parse log bytes; raise LogCorruptError naming the first bad whole line."""
    end = data.rfind(b"\n") + 1
    events: list[Event] = []
    last_seq = 0
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):  # the last piece: torn tail or b""
        try:
            event = decode(line)
        except EventFormatError as error:
            raise LogCorruptError(f"line {number}: {error}") from None
        if event.seq <= last_seq:
            raise LogCorruptError(f"line {number}: seq {event.seq} does not follow {last_seq}")
        last_seq = event.seq
        events.append(event)
    return Scan(events, end, data[end:])


def read_events(path: Path) -> Iterator[Event]:
    """Whole events of a log another process may be writing, without touching it (for `check`, backups)."""
    with open(path, "rb") as file:
        yield from scan(file.read()).events


def read_events_newest_first(path: Path, chunk: int = 1 << 20) -> Iterator[Event]:
    """Whole events from the end of the log backwards, reading only as much as the caller takes (audit pages)."""
    with open(path, "rb") as file:
        end = file.seek(0, os.SEEK_END)
        pending = b""
        first = True
        while end > 0:
            start = max(0, end - chunk)
            file.seek(start)
            data = file.read(end - start) + pending
            end = start
            if first:  # a torn last line (no newline yet) is not an event
                cut = data.rfind(b"\n")
                if cut < 0:
                    pending = b""
                    continue
                data, first = data[:cut + 1], False
            lines = data.split(b"\n")
            pending = lines.pop(0) if start > 0 else b""  # may continue in the chunk before
            for line in reversed(lines):
                if line:
                    yield _decoded(line, f"a line before byte {start + len(pending) + 1}")
        if pending:
            yield _decoded(pending, "the first line")


def _decoded(line: bytes, where: str) -> Event:
    try:
        return decode(line)
    except EventFormatError as error:
        raise LogCorruptError(f"{where}: {error}") from None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def real_time(clock: Clock, at: datetime) -> datetime:
    """When `at` on `clock` comes on the real clock, for APScheduler (the two differ only in tests)."""
    return utc_now() + (at - clock())


class EventLog:
    """Append-only, fsynced, single-owner JSON-lines file with in-order notification of durable events."""

    def __init__(self, path: Path, fd: int, lock_fd: int, size: int, last_seq: int, clock: Clock) -> None:
        self.path = path
        self._fd = fd
        self._lock_fd = lock_fd
        self._size = size
        self._clock = clock
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written_seq = last_seq
        self._durable_seq = last_seq
        self._unsynced: list[Event] = []
        self._failure: str | None = None
        self._subscribers: list[Subscriber] = []
        self._notices: queue.Queue[Event | None] = queue.Queue()
        self._notifier = threading.Thread(target=self._notify_loop, name="eventlog-notify", daemon=True)
        self._notifier.start()

    @classmethod
    def open(cls, path: Path, clock: Clock = utc_now) -> tuple[EventLog, list[Event]]:
        """Own the log at `path` (creating it), recover a torn tail, and return it with its events."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(path.with_name(path.name + ".lock"))
        try:
            created = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
            if created:
                _fsync_folder(path.parent)  # the new file's name must survive a crash too
            with os.fdopen(os.dup(fd), "rb") as file:
                found = scan(file.read())
            if found.torn:
                _set_aside(path, fd, found, clock())
            last_seq = found.events[-1].seq if found.events else 0
            return cls(path, fd, lock_fd, found.end, last_seq, clock), found.events
        except BaseException:
            os.close(lock_fd)
            raise

    @property
    def last_seq(self) -> int:
        return self._durable_seq

    @property
    def failure(self) -> str | None:
        """Why the log stopped taking writes (an fsync failed), or None while it is healthy."""
        return self._failure

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber` with every event made durable from now on, in seq order, on one thread."""
        self._subscribers.append(subscriber)

    def append(self, payloads: Sequence[Payload], source: str) -> list[Event]:
        """Write and make durable; the events are on disk when this returns."""
        events = self.write(payloads, source)
        if events:
            self.sync(events[-1].seq)
        return events

    def write(self, payloads: Sequence[Payload], source: str) -> list[Event]:
        """Give events their seq and write them, not yet durable: the caller must `sync` before answering."""
        with self._write_lock:
            if self._failure:
                raise LogWriteError(self._failure)
            at = self._clock()
            events = [Event(self._written_seq + offset, at, source, payload)
                      for offset, payload in enumerate(payloads, start=1)]
            blob = "".join(encode(event) + "\n" for event in events).encode()
            try:
                _write_all(self._fd, blob)
            except OSError as error:
                os.ftruncate(self._fd, self._size)  # drop a partial line so the next append starts clean
                raise LogWriteError(f"could not write {self.path}: {error.strerror}") from None
            self._size += len(blob)
            self._written_seq += len(events)
            self._unsynced.extend(events)
            return events

    def sync(self, seq: int) -> None:
        """Return once every event up to `seq` is on disk; one fsync covers all writers waiting meanwhile."""
        with self._sync_lock:
            if self._durable_seq >= seq:
                return
            if self._failure:
                raise LogWriteError(self._failure)
            with self._write_lock:
                batch, self._unsynced = self._unsynced, []
            try:
                os.fsync(self._fd)  # make sure the data is on disk before anyone is told
            except OSError as error:
                self._failure = f"could not sync {self.path}: {error.strerror}; restart the recorder"
                raise LogWriteError(self._failure) from None
            self._durable_seq = batch[-1].seq
            for event in batch:
                self._notices.put(event)

    def wait_notified(self) -> None:
        """Block until subscribers have seen every durable event (for orderly shutdown and tests)."""
        self._notices.join()

    def close(self) -> None:
        self._notices.put(None)
        self._notifier.join(timeout=10)
        os.close(self._fd)
        os.close(self._lock_fd)

    def _notify_loop(self) -> None:
        while True:
            event = self._notices.get()
            try:
                if event is None:
                    return
                for subscriber in self._subscribers:
                    try:
                        subscriber(event)
                    except Exception:
                        log.exception("subscriber %r failed on event %s", subscriber, event.seq)
            finally:
                self._notices.task_done()


def _lock(lock_path: Path) -> int:
    """Take the OS lock that makes this process the log's only writer; say who holds it otherwise."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise LogLockedError(
            f"{lock_path.parent} is in use by another recorder process (pid {holder}); "
            "stop it or use another STATE_DIR") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _set_aside(path: Path, fd: int, found: Scan, now: datetime) -> None:
    """Keep a torn tail in a file beside the log, then cut it off the log."""
    aside = path.with_name(f"{path.name}.torn-{now.strftime('%Y%m%dT%H%M%S%fZ')}")
    aside.write_bytes(found.torn)
    os.ftruncate(fd, found.end)
    os.fsync(fd)
    log.warning("event log %s ended in a torn line (%d bytes, a crash mid-write); cut off and kept in %s",
                path, len(found.torn), aside)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, blob: bytes) -> None:
    view = memoryview(blob)
    while view:
        written = os.write(fd, view)
        view = view[written:]
