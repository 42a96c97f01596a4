"""Wires the real adapters together in one place; the CLI and the end-to-end tests both start here."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from types import FrameType

import waitress

from . import backup, logs
from .commands import Commands
from .config_folder import ConfigFolder
from .delivery import DeliveryOptions
from .eventlog import utc_now
from .pipeline import FinishOptions
from .recording import CaptureOptions, make_ffmpeg_capture
from .runner import Runner
from .settings import Settings
from .store import Store
from .web.app import Context, build_app
from .web.auth import HASH_FILE, load_credentials
from .web.sessions import Signer, load_key

log = logging.getLogger("recorder")


@dataclass
class Service:
    settings: Settings
    store: Store
    context: Context
    runner: Runner
    config_folder: ConfigFolder

    def start(self) -> None:
        """Files first, so their schedules are armed with the rest when the runner starts."""
        self.config_folder.start()
        self.runner.start()

    def close(self) -> None:
        self.config_folder.stop()
        self.runner.stop()
        self.store.log.wait_notified()
        self.store.close()


def open_service(settings: Settings) -> tuple[Service, str | None]:
    """Own the state folder and build everything on it; also returns a password generated just now."""
    for folder in settings.folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.event_log_path)
    try:
        credentials, generated = load_credentials(settings.state_dir, settings.admin_password)
    except BaseException:
        store.close()
        raise
    commands = Commands(store, default_timezone=settings.tz)
    capture = make_ffmpeg_capture(CaptureOptions(min_free_bytes=settings.min_free_space_mb * 2**20))
    finishing = FinishOptions(settings.recordings_dir, settings.artwork_dir, settings.tz, settings.title_template,
                              settings.filename_template, settings.mp3_bitrate)
    delivering = DeliveryOptions(settings.recordings_dir, settings.config_dir, settings.default_max_retries,
                                 settings.retry_delay_seconds, settings.cleanup_after_transfer)
    runner = Runner(store, commands, capture, finishing, delivering, settings.max_concurrent_recordings, utc_now,
                    nightly=lambda: nightly_backup(settings), timezone_name=settings.tz)
    signer = Signer(load_key(settings.state_dir))
    config_folder = ConfigFolder(settings.config_dir, commands, settings.config_poll_seconds)
    context = Context(settings, store, commands, credentials, runner, signer)
    return Service(settings, store, context, runner, config_folder), generated


def nightly_backup(settings: Settings) -> None:
    """The automatic daily backup (with artwork), keeping the newest BACKUP_KEEP of them."""
    try:
        made = backup.create(settings.backups_dir, settings.event_log_path, settings.artwork_dir,
                             f"auto-{utc_now().strftime('%Y%m%d-%H%M%S')}", include_artwork=True)
        removed = backup.prune(settings.backups_dir, "auto-", settings.backup_keep)
        log.info("daily backup %s made (seq %s); removed %s", made["name"], made["seq"], removed or "none")
    except (backup.BackupError, OSError) as error:
        log.error("the daily backup failed: %s", error)


def serve(settings: Settings) -> None:
    """Run the web server in the foreground until SIGINT or SIGTERM."""
    logs.configure(settings.logs_dir, settings.log_level)
    service, generated = open_service(settings)
    try:
        server = waitress.create_server(build_app(service.context), host=settings.web_host,
                                        port=settings.web_port, threads=8, ident="recorder")
        log.info("replayed %d events from %s", service.store.log.last_seq, settings.event_log_path)
        host = "localhost" if settings.web_host in ("0.0.0.0", "::") else settings.web_host
        log.info("Recorder listening on http://%s:%d/ (user admin)", host, settings.web_port)
        if generated:
            log.warning("Generated admin password (shown only this once; set ADMIN_PASSWORD to choose one, or "
                        "delete %s to get a new one): %s", settings.state_dir / HASH_FILE, generated)
        service.start()
        signal.signal(signal.SIGTERM, _interrupt)
        server.run()  # returns after KeyboardInterrupt: waitress stops its workers
    finally:
        log.info("stopping")
        service.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
