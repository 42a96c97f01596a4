"""Log files an operator reads: audio_recorder.log (everything), error.log (errors only), and stdout for containers."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5


def configure(logs_dir: Path, level: str) -> None:
    """Send the recorder's logging to stdout and to size-rotated files in `logs_dir`."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    for name, handler_level in (("audio_recorder.log", logging.DEBUG), ("error.log", logging.ERROR)):
        handler = logging.handlers.RotatingFileHandler(logs_dir / name, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                       encoding="utf-8")
        handler.setLevel(handler_level)
        handlers.append(handler)
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
