"""Where threads meet: the log and its views behind one lock.

Waitress serves from several threads and the scheduler runs jobs on its own, while TinyDB is not thread-safe.
A change is decided against the views, written and projected under the lock, so two requests can never both
pass a uniqueness check; the fsync happens after the lock is released (group commit), and the caller is answered
only once its events are durable.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from .eventlog import Clock, EventLog, Subscriber, utc_now
from .events import Event, Payload
from .views import Views, replay

T = TypeVar("T")
Decision = Callable[[Views], Sequence[Payload]]


class Store:
    def __init__(self, log: EventLog, views: Views) -> None:
        self.log = log
        self._views = views
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, clock: Clock = utc_now) -> Store:
        """Own the log at `path` and rebuild the views by replaying it."""
        gc.disable()  # replay allocates objects that all live on; collecting while it runs only costs time
        try:
            log, events = EventLog.open(path, clock)
            return cls(log, replay(events))
        finally:
            gc.enable()

    def execute(self, decide: Decision, source: str) -> list[Event]:
        """Run `decide` on the current views and append what it returns; durable when this returns.

        `decide` raises to refuse the change; then nothing is written.
        """
        with self._lock:
            payloads = decide(self._views)
            if not payloads:  # nothing to change: not even a log that can no longer write refuses that
                return []
            events = self.log.write(payloads, source)
            for event in events:
                self._views.apply(event)
        if events:
            self.log.sync(events[-1].seq)
        return events

    def read(self, query: Callable[[Views], T]) -> T:
        """Run `query` on a consistent view of the state."""
        with self._lock:
            return query(self._views)

    def subscribe(self, subscriber: Subscriber) -> None:
        self.log.subscribe(subscriber)

    def close(self) -> None:
        self.log.close()
