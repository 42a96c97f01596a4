"""Getting finished MP3s to their destination: attempts, retries with growing delays, and recovery after restarts.

Every attempt and its outcome is an event, so pending uploads are rebuilt from the log at start: a restart
never loses one, and an attempt cut off by a crash resumes from the remote `.part` file. Transient failures
(server down, network) are retried `max_retries` times with exponential backoff and jitter; permanent ones
(login refused, host key unknown or changed, permission denied) stop at once with what to fix. Only a verified
upload lets the local file be deleted (CLEANUP_AFTER_TRANSFER).
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from apscheduler.schedulers.base import BaseScheduler

from .commands import CommandError, Commands
from .eventlog import Clock, real_time, utc_now
from .events import (
    HostTrusted,
    Payload,
    SessionCompleted,
    SessionFailed,
    TransferAttempted,
    TransferCompleted,
    TransferFailed,
)
from .host_keys import HostKey, trust_host
from .processing import sidecar_path
from .store import Store
from .transfer import TransferError, upload

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 6 * 3600


@dataclass(frozen=True)
class DeliveryOptions:
    recordings_dir: Path
    config_dir: Path
    default_max_retries: int
    retry_delay_seconds: int
    cleanup_after_transfer: bool

    @property
    def known_hosts(self) -> Path:
        return self.config_dir / "known_hosts"

    def key_file(self, stream: dict[str, Any]) -> Path:
        return self.config_dir / (stream.get("ssh_key") or "ssh_key")


def retry_delay(attempt: int, base_seconds: float, rng: random.Random, cap: float = MAX_DELAY_SECONDS) -> float:
    """Seconds before retry after `attempt` failed: base * 2^(attempt-1), +/-20 % jitter, capped."""
    return min(cap, base_seconds * 2 ** (attempt - 1)) * rng.uniform(0.8, 1.2)


class Delivery:
    def __init__(self, store: Store, commands: Commands, scheduler: BaseScheduler, options: DeliveryOptions,
                 clock: Clock, uploader: Callable[..., Any] = upload) -> None:
        self._store = store
        self._commands = commands
        self._scheduler = scheduler
        self._options = options
        self._clock = clock
        self._upload = uploader
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._rng = random.Random()

    def start(self) -> None:
        """Write known_hosts from the log, then pick up every upload a previous run left pending."""
        for host in self._store.read(lambda views: views.all("hosts")):
            self._pin(HostTrusted(host["host"], host["port"], host["key_type"], host["key_base64"],
                                  host["fingerprint"]))
        # A restart is a good moment to try again at once: whatever failed may be fixed by now.
        for session in self._store.read(lambda views: views.sessions_in("processed", "transferring",
                                                                         "waiting_retry", "transferred")):
            self.deliver(session.doc_id)

    def deliver(self, session_id: int, at: datetime | None = None) -> None:
        """Run an attempt for this session now (or at `at`); one job per session, so never two at once."""
        when = real_time(self._clock, at) if at else utc_now()
        self._scheduler.add_job(self._attempt, "date", run_date=when, args=[session_id],
                                id=f"transfer-{session_id}", replace_existing=True)

    def on_host_trusted(self, payload: HostTrusted) -> None:
        self._pin(payload)

    def _pin(self, payload: HostTrusted) -> None:
        trust_host(self._options.known_hosts, HostKey(payload.host, payload.port, payload.key_type,
                                                      payload.fingerprint, payload.key_base64))

    def _attempt(self, session_id: int) -> None:
        with self._lock:
            if session_id in self._running:
                return
            self._running.add(session_id)
        try:
            self._attempt_once(session_id)
        except Exception as error:
            log.exception("session %s: transfer attempt crashed", session_id)
            self._step(SessionFailed(session_id, f"SCP transfer failed: {error}"))
        finally:
            with self._lock:
                self._running.discard(session_id)

    def _attempt_once(self, session_id: int) -> None:
        session = self._store.read(lambda views: views.get("sessions", session_id))
        if session is None or session["status"] not in ("processed", "transferring", "waiting_retry",
                                                        "transferred"):
            return
        stream = self._store.read(lambda views: views.get("streams", session["stream_id"]))
        if stream is None:
            self._step(SessionFailed(session_id, f"stream {session['stream_id']} was deleted before delivery"))
            return
        local = self._options.recordings_dir / session["file"]
        if session["status"] != "transferred":
            if not stream["scp_destination"]:
                self._step(SessionCompleted(session_id))  # kept locally: a valid setup
                return
            if not self._deliver_file(session_id, stream, local):
                return
        if self._options.cleanup_after_transfer:
            local.unlink(missing_ok=True)
            sidecar_path(local).unlink(missing_ok=True)
        self._step(SessionCompleted(session_id))

    def _deliver_file(self, session_id: int, stream: dict[str, Any], local: Path) -> bool:
        """One upload attempt with its events; True when the file arrived and was verified."""
        transfer = self._store.read(lambda views: views.get("transfers", session_id))
        attempt = (transfer["attempts"] if transfer else 0) + 1
        destination = stream["scp_destination"]
        self._step(TransferAttempted(session_id, attempt, destination))
        sidecar = sidecar_path(local)
        extras = [sidecar] if stream["upload_sidecar"] and sidecar.exists() else []
        try:
            if not local.is_file():
                raise TransferError(destination, f"the recording {local.name} is no longer in the recordings "
                                                 "folder", permanent=True)
            done = self._upload(local, destination, self._options.key_file(stream), self._options.known_hosts,
                                extra_files=extras)
        except TransferError as error:
            self._failed(session_id, stream, attempt, error)
            return False
        self._step(TransferCompleted(session_id, done.remote_path, done.size_bytes, round(done.seconds, 3)))
        log.info("session %s delivered to %s (%d bytes)", session_id, done.remote_path, done.size_bytes)
        return True

    def _failed(self, session_id: int, stream: dict[str, Any], attempt: int, error: TransferError) -> None:
        retries = stream["max_retries"] if stream["max_retries"] is not None else self._options.default_max_retries
        final = error.permanent or attempt > retries
        retry_at = None if final else self._clock() + timedelta(
            seconds=retry_delay(attempt, self._options.retry_delay_seconds, self._rng))
        log.error("%s (attempt %d%s)", error, attempt,
                  f", next at {retry_at.isoformat()}" if retry_at else ", giving up")
        self._step(TransferFailed(session_id, attempt, error.reason, error.permanent, retry_at))
        if retry_at:
            self.deliver(session_id, at=retry_at)
        else:
            advice = "fix it, then retry the transfer" if error.permanent else "retry the transfer when it is back"
            self._step(SessionFailed(session_id, f"{error} ({attempt} attempt{'s' if attempt > 1 else ''}; "
                                                 f"{advice})"))

    def _step(self, payload: Payload) -> None:
        try:
            self._commands.session_step(payload, source="delivery")
        except CommandError as error:
            log.warning("transfer step %s refused: %s", payload, error.message)
