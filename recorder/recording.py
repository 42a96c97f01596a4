"""Capturing one session's audio: the interface the runner calls.

A capture runs in its own thread until `job.deadline` (a time.monotonic() instant: the window's end by the
runner's clock, immune to wall-clock jumps) or until `stop` is set, and returns what it recorded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .events import StreamConfig


@dataclass(frozen=True)
class RecordingJob:
    session_id: int
    stream_id: int
    stream: StreamConfig
    part: int
    deadline: float
    folder: Path


@dataclass(frozen=True)
class CaptureResult:
    """The finished file (inside the recordings folder) or the reason there is none."""

    file: Path | None
    size_bytes: int = 0
    duration_seconds: float = 0.0
    error: str | None = None


Capture = Callable[[RecordingJob, threading.Event], CaptureResult]
