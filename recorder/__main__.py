"""Command line: `python -m recorder serve | events | check`.

Start-up problems (a bad setting, a log owned by another process, a corrupt line, a busy port) end with one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

from . import __version__
from . import settings as settings_module
from .audit import type_matches
from .eventlog import LogCorruptError, LogLockedError, read_events, scan
from .views import replay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recorder", description="Audio stream recorder.")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the web UI, API and scheduler in the foreground")
    events = commands.add_parser("events", help="print the event log (JSON lines)")
    events.add_argument("-f", "--follow", action="store_true", help="keep printing new events as they come")
    events.add_argument("--type", help="only events of this type or family, e.g. stream or session.failed")
    commands.add_parser("check", help="replay the log and report counts and problems without serving")
    check_files = commands.add_parser("check-config", help="say what drop-in config files would change, or why "
                                                           "they would not be used, without changing anything")
    check_files.add_argument("files", nargs="*", type=Path, help="default: every *.json in CONFIG_DIR")
    imported = commands.add_parser("import-log", help="turn a copied events.jsonl into a backup you can restore")
    imported.add_argument("file", type=Path)
    imported.add_argument("--name", default="imported-log")
    trust = commands.add_parser("trust-host", help="show an SSH server's host key and pin it once you confirm it")
    trust.add_argument("host")
    trust.add_argument("--port", type=int, default=22)
    trust.add_argument("--fingerprint", help="the SHA256:... you confirmed out of band (skips the question)")
    args = parser.parse_args(argv)
    try:
        settings = settings_module.load()
        if args.command == "serve":
            from .bootstrap import serve

            serve(settings)
            return 0
        if args.command == "events":
            return print_events(settings.event_log_path, args.follow, args.type)
        if args.command == "import-log":
            from .backup import BackupError, import_log

            try:
                made = import_log(settings.backups_dir, args.file, args.name)
            except BackupError as error:
                print(f"recorder: error: {error}", file=sys.stderr)
                return 1
            print(f"backup {made['name']} made from {args.file}: {made['counts']}; restore it from the Backup page")
            return 0
        if args.command == "trust-host":
            return trust_host(settings, args.host, args.port, args.fingerprint)
        if args.command == "check-config":
            return check_config(settings, args.files)
        return check(settings.event_log_path)
    except (settings_module.SettingsError, LogLockedError, LogCorruptError, OSError) as error:
        print(f"recorder: error: {_describe(error)}", file=sys.stderr)
        return 2 if isinstance(error, settings_module.SettingsError) else 1
    except KeyboardInterrupt:
        return 130


def _describe(error: Exception) -> str:
    if isinstance(error, LogCorruptError):
        return f"the event log is damaged at {error}; nothing was changed. Fix or remove that line by hand."
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}" + (f": {error.filename}" if error.filename else "")
    return str(error)


def print_events(path: Path, follow: bool, type_prefix: str | None) -> int:
    """Print whole lines of the log as stored; with --follow keep reading as it grows."""
    offset = 0
    while True:
        if path.exists():
            with open(path, "rb") as file:
                file.seek(offset)
                data = file.read()
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                if not type_prefix or type_matches(_type_of(line), type_prefix):
                    sys.stdout.write(line.decode() + "\n")
            sys.stdout.flush()
            offset += end
        if not follow:
            return 0
        time.sleep(0.5)


def _type_of(line: bytes) -> str:
    try:
        return str(json.loads(line).get("type", ""))
    except ValueError:
        return ""


def trust_host(settings: settings_module.Settings, host: str, port: int, confirmed: str | None) -> int:
    """Pin a host key: through the running server's API if there is one, else straight into the log."""
    from .transfer import TransferError, fetch_host_key

    try:
        key = fetch_host_key(host, port)
    except TransferError as error:
        print(f"recorder: error: {error.reason}", file=sys.stderr)
        return 1
    print(f"{key.host}:{key.port} presents a {key.key_type} key with fingerprint {key.fingerprint}")
    if confirmed is None:
        answer = input("Is this the fingerprint your server's administrator gave you? Type yes to trust it: ")
        if answer.strip().lower() != "yes":
            print("not trusted")
            return 1
        confirmed = key.fingerprint
    from .commands import CommandError, Commands
    from .store import Store

    try:
        store = Store.open(settings.event_log_path)
    except LogLockedError:
        return _trust_through_api(settings, key.host, key.port, confirmed)
    try:
        Commands(store).trust_host(key.host, key.port, key.key_type, key.key_base64, key.fingerprint, confirmed,
                                   source="cli")
    except CommandError as error:
        print(f"recorder: error: {error.message}; not trusted", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"trusted {key.host}:{key.port}; the running recorder pins it at its next start")
    return 0


def _trust_through_api(settings: settings_module.Settings, host: str, port: int, fingerprint: str) -> int:
    import base64
    import urllib.error
    import urllib.request

    if not settings.admin_password:
        print("recorder: error: the recorder is running; set ADMIN_PASSWORD so this command can ask it to trust "
              "the host, or use the web UI", file=sys.stderr)
        return 1
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.web_port}/api/hosts/trust", method="POST",
        data=json.dumps({"host": host, "port": port, "fingerprint": fingerprint}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(
            f"admin:{settings.admin_password}".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError as error:
        print(f"recorder: error: the recorder refused: {error.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    print(f"trusted {host}:{port} (through the running recorder)")
    return 0


def check(path: Path) -> int:
    """Replay the log read-only (safe while a server runs) and report what it holds."""
    if not path.exists():
        print(f"{path}: no event log yet (it is created at the first start)")
        return 0
    found = scan(path.read_bytes())
    views = replay(found.events)
    counts = collections.Counter(event.type for event in found.events)
    print(f"{path}: {len(found.events)} events, last seq {views.last_seq}")
    for kind, count in sorted(counts.items()):
        print(f"  {kind}: {count}")
    for table in ("streams", "schedules"):
        print(f"{table}: {len(views.all(table))}")
    if found.torn:
        print(f"warning: the log ends in a torn line of {len(found.torn)} bytes (a crash mid-write); "
              "the next start cuts it off and keeps it aside")
    return 0


def check_config(settings: settings_module.Settings, files: list[Path]) -> int:
    """A dry run of drop-in files against the log as it is now (safe while a server runs): 1 if any is refused."""
    from .config_folder import is_config_file
    from .declared import MAX_FILE_BYTES, decide_config_file, problem_text
    from .events import ConfigFileFailed

    path = settings.event_log_path
    views = replay(read_events(path) if path.exists() else [])
    targets = files or sorted(p for p in settings.config_dir.glob("*.json") if is_config_file(p.name))
    if not targets:
        print(f"{settings.config_dir}: no config files")
    refused = 0
    for target in targets:
        with open(target, "rb") as file:
            payloads = decide_config_file(views, target.name, file.read(MAX_FILE_BYTES + 1), settings.tz)
        row = views.config_file(target.name)
        if payloads and isinstance(payloads[-1], ConfigFileFailed):
            failed = payloads[-1]
            print(f"{target}: not usable: {problem_text(failed.error, failed.line, failed.field)}")
        elif not payloads and row is not None and row["status"] == "failed":
            print(f"{target}: not usable: {problem_text(row['error'], row['line'], row['field'])}")
        else:
            changes = collections.Counter(p.TYPE for p in payloads if not p.TYPE.startswith("config."))
            said = ", ".join(f"{count} {kind}" for kind, count in sorted(changes.items())) or "nothing to change"
            print(f"{target}: ok ({said})")
            continue
        refused += 1
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
