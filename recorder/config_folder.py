"""The drop-in folder: `*.json` files describing streams, read when they appear, change or disappear.

An adapter only: it notices files (watchdog's inotify observer, or a timed re-scan where file events do not
arrive, e.g. bind mounts and network filesystems), waits until a file has stopped changing, and hands its
bytes to the command layer, which decides everything (`declared.py`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .commands import Commands
from .declared import MAX_FILE_BYTES, problem_text
from .events import ConfigFileApplied, ConfigFileFailed, ConfigFileRemoved, Event

log = logging.getLogger(__name__)

SETTLE_SECONDS = 1.0  # a file must keep its size and mtime this long before it is read (copies, slow writers)
RESCAN_SECONDS = 30.0  # with inotify, a full re-scan this often still catches events the kernel dropped
FALLBACK_POLL_SECONDS = 2


def is_config_file(name: str) -> bool:
    """`*.json`, but not editor swap/backup files or hidden temporary copies (`.x.json.tmp`, `x.json~`).

    A name that is not valid UTF-8 cannot be named in an event (or shown), so it is not read either.
    """
    return name.endswith(".json") and not name.startswith((".", "~", "#")) and name.isprintable() and not any(
        "\udc80" <= char <= "\udcff" for char in name)


class ConfigFolder:
    """Keeps the streams described by the folder's files in step with them, on its own thread."""

    def __init__(self, folder: Path, commands: Commands, poll_seconds: int = 0,
                 settle_seconds: float = SETTLE_SECONDS) -> None:
        self.folder = folder
        self.commands = commands
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self._seen: dict[str, tuple[int, int]] = {}  # name -> (size, mtime_ns) when last looked at
        self._unsettled: dict[str, float] = {}  # name -> when (monotonic) its size or mtime last changed
        self._read: dict[str, str] = {}  # name -> sha256 of the bytes last handed to the commands
        self._wake = threading.Event()
        self._stopping = False
        self._observer: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Read what is there now (before the API serves), then follow changes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scan(at_start=True)
        if not self.poll_seconds:
            self._observer = _watch(self.folder, self._wake)
            if self._observer is None:
                self.poll_seconds = FALLBACK_POLL_SECONDS
        self._thread = threading.Thread(target=self._loop, name="config-folder", daemon=True)
        self._thread.start()
        how = f"re-scanned every {self.poll_seconds} s" if self.poll_seconds else "watched (inotify)"
        log.info("config folder %s %s", self.folder, how)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def scan(self, at_start: bool = False) -> None:
        """One look at the folder: read files that have settled, remove what disappeared."""
        present = self._present()
        now = time.monotonic()
        for name, stat in present.items():
            if self._seen.get(name) != stat:
                self._seen[name] = stat
                quiet_already = at_start and time.time() - stat[1] / 1e9 >= self.settle_seconds
                if not quiet_already:
                    self._unsettled[name] = now
                    continue
            elif name not in self._unsettled or now - self._unsettled[name] < self.settle_seconds:
                continue
            try:
                self._read_file(name)
            except Exception:
                self._unsettled[name] = now + (self.poll_seconds or RESCAN_SECONDS)  # e.g. a full disk
                raise
            self._unsettled.pop(name, None)
        known = self.commands.store.read(lambda views: {row["file"] for row in views.all("config_files")})
        for name in (known | set(self._seen)) - set(present):
            self._seen.pop(name, None)
            self._read.pop(name, None)
            gone_since = self._unsettled.setdefault(name, now)  # a save by delete-then-rename is not a removal
            if at_start or now - gone_since >= self.settle_seconds:
                self._unsettled.pop(name)
                _report(name, self.commands.remove_config_file(name))

    def _loop(self) -> None:
        while not self._stopping:
            if self._unsettled:
                timeout = max(0.05, min(self._unsettled.values()) + self.settle_seconds - time.monotonic())
            else:
                timeout = self.poll_seconds or RESCAN_SECONDS
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self.scan()
            except Exception:  # noqa: BLE001 - the folder keeps being watched whatever one file does
                log.exception("reading the config folder %s failed; trying again", self.folder)

    def _present(self) -> dict[str, tuple[int, int]]:
        present = {}
        try:
            entries = list(os.scandir(self.folder))
        except OSError as error:
            log.error("cannot list the config folder %s: %s", self.folder, error)
            return {name: stat for name, stat in self._seen.items()}  # a hiccup must not delete every stream
        for entry in entries:
            if is_config_file(entry.name):
                try:
                    if entry.is_file():
                        stat = entry.stat()
                        present[entry.name] = (stat.st_size, stat.st_mtime_ns)
                except OSError:
                    continue  # vanished between listing and stat: the next scan sees it gone
        return present

    def _read_file(self, name: str) -> None:
        try:
            with open(self.folder / name, "rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            _report(name, self.commands.config_file_unreadable(name, f"cannot read the file: {error.strerror}"))
            return
        digest = hashlib.sha256(data).hexdigest()
        if self._read.get(name) == digest:
            return
        _report(name, self.commands.apply_config_file(name, data))
        self._read[name] = digest


def _report(name: str, events: list[Event]) -> None:
    """The log lines an operator looks for; the events themselves are the record."""
    for event in events:
        data = event.data
        if isinstance(data, ConfigFileFailed):
            log.warning("Config file %s not used: %s", name, problem_text(data.error, data.line, data.field))
        elif isinstance(data, ConfigFileApplied):
            log.info("Config file %s applied: %d stream(s), %d change(s)", name, len(data.stream_ids),
                     len(events) - 1)
        elif isinstance(data, ConfigFileRemoved):
            log.info("Config file %s removed: its streams were deleted (%d change(s))", name, len(events) - 1)


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = (event.src_path, getattr(event, "dest_path", "") or "")
        if any(is_config_file(os.path.basename(os.fsdecode(path))) for path in paths if path):
            self.wake.set()


def _watch(folder: Path, wake: threading.Event) -> Any:
    """An inotify observer, or None when the system refuses one (watch limits): then we poll instead."""
    observer = Observer()
    observer.schedule(_Wake(wake), str(folder), recursive=False)
    try:
        observer.start()
    except OSError as error:
        log.warning("cannot watch %s for changes (%s); re-scanning every %d s instead", folder, error,
                    FALLBACK_POLL_SECONDS)
        return None
    return observer
