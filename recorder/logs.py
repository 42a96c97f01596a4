"""Log files an operator reads: audio_recorder.log (everything), system.log (the service itself: start, stop,
resources, the event log), error.log (errors only), and stdout for containers; plus reading them back for the UI."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SYSTEM_LOGGERS = frozenset({"recorder", "recorder.monitor", "recorder.eventlog", "waitress"})
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FILES = ("audio_recorder.log", "system.log", "error.log")
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([^:]+): (.*)$")
TAIL_BYTES = 512 * 1024
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5


def configure(logs_dir: Path, level: str) -> None:
    """Send the recorder's logging to stdout and to size-rotated files in `logs_dir`."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    for name, handler_level in (("audio_recorder.log", logging.DEBUG), ("system.log", logging.DEBUG),
                                ("error.log", logging.ERROR)):
        handler = logging.handlers.RotatingFileHandler(logs_dir / name, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                       encoding="utf-8")
        handler.setLevel(handler_level)
        if name == "system.log":
            handler.addFilter(lambda record: record.name in SYSTEM_LOGGERS)
        handlers.append(handler)
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))  # it logs every job run at INFO


def read_log(path: Path, level: str = "DEBUG", limit: int = 200, after: int | None = None) -> dict[str, Any]:
    """Entries at `level` or above: the newest `limit`, or those written after byte `after` (to follow).

    A traceback's lines belong to the entry above them. When the file was rotated (shorter than `after`), it is
    read from the start.
    """
    if not path.exists():
        return {"entries": [], "next_offset": 0}
    size = path.stat().st_size
    start = after if after is not None and after <= size else max(0, size - TAIL_BYTES)
    with open(path, "rb") as file:
        file.seek(start)
        data = file.read(size - start)
    end = start + data.rfind(b"\n") + 1
    entries: list[dict[str, Any]] = []
    for line in data[:end - start].decode("utf-8", "replace").splitlines():
        match = _LINE.match(line)
        if match:
            entries.append({"time": match[1], "level": match[2], "logger": match[3], "message": match[4]})
        elif entries:
            entries[-1]["message"] += "\n" + line
    wanted = LEVELS.index(level)
    entries = [entry for entry in entries if LEVELS.index(entry["level"]) >= wanted]
    return {"entries": entries[-limit:] if after is None else entries[:limit], "next_offset": end}
