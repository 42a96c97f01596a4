"""System status for the dashboard and `GET /api/system/status`: resources, state folders, work in progress.

Disk space is the resource that ends recordings, so every state folder's disk is reported, and a folder under
MIN_FREE_SPACE_MB raises a "Disk space warning" in the status and the logs.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import datetime, timezone
from typing import Any

import psutil

from . import __version__

log = logging.getLogger(__name__)
_warned: set[str] = set()  # folders short of space whose warning was logged (once until space is back)


def disk_report(folders: dict[str, Any], min_free_bytes: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Free and used space of the disk under each state folder, and a warning per folder that is short of it."""
    disks, warnings = [], []
    for name, folder in folders.items():
        try:
            usage = shutil.disk_usage(folder)
        except OSError as error:
            warnings.append(f"{name} folder {folder} is not readable: {error.strerror}")
            continue
        disks.append({"folder": name, "path": str(folder), "total_bytes": usage.total, "used_bytes": usage.used,
                      "free_bytes": usage.free, "percent_used": round(usage.used / usage.total * 100, 1)})
        if usage.free < min_free_bytes:
            message = (f"Disk space warning: {name} folder {folder} has {usage.free // 2**20} MB free "
                       f"(minimum {min_free_bytes // 2**20} MB); clean up old recordings")
            warnings.append(message)
            if name not in _warned:
                _warned.add(name)
                log.warning(message)
        else:
            _warned.discard(name)
    return disks, warnings


def system_status(settings: Any, store: Any, runner: Any, started: float) -> dict[str, Any]:
    process = psutil.Process(os.getpid())
    memory = psutil.virtual_memory()
    disks, warnings = disk_report(settings.folders, settings.min_free_space_mb * 2**20)
    queued, pending = store.read(lambda views: (
        sorted(row.doc_id for row in views.sessions_in("queued")),
        sorted(row["session_id"] for row in views.all("transfers") if row["status"] in ("pending", "running",
                                                                                         "waiting"))))
    children = process.children(True)
    if store.log.failure:
        warnings.append(f"The event log stopped taking changes: {store.log.failure}")
    return {
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - started, 1),
        "time": datetime.now(timezone.utc).isoformat(),
        "cpu_percent": psutil.cpu_percent(interval=None),
        "cpu_count": psutil.cpu_count(),
        "load_average": list(os.getloadavg()),
        "memory": {"total_bytes": memory.total, "available_bytes": memory.available, "percent_used": memory.percent},
        "process": {"rss_bytes": process.memory_info().rss + sum(_rss(child) for child in children),
                    "ffmpeg_processes": sum(1 for child in children if _name(child) == "ffmpeg")},
        "disks": disks,
        "active_recordings": runner.active_sessions(),
        "queued_sessions": queued,
        "pending_transfers": pending,
        "last_event_seq": store.log.last_seq,
        "warnings": warnings,
    }


def _name(process: psutil.Process) -> str:
    """A child's name, or "" for one that ended meanwhile (an ffprobe is short-lived)."""
    try:
        return process.name()
    except psutil.Error:
        return ""


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0
