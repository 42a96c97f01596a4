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

from . import __version__, settings as settings_module
from .eventlog import LogCorruptError, LogLockedError, scan
from .views import replay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recorder", description="Audio stream recorder.")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the web UI, API and scheduler in the foreground")
    events = commands.add_parser("events", help="print the event log (JSON lines)")
    events.add_argument("-f", "--follow", action="store_true", help="keep printing new events as they come")
    events.add_argument("--type", help="only events of this type or type prefix, e.g. stream or session.failed")
    commands.add_parser("check", help="replay the log and report counts and problems without serving")
    args = parser.parse_args(argv)
    try:
        settings = settings_module.load()
        if args.command == "serve":
            from .bootstrap import serve

            serve(settings)
            return 0
        if args.command == "events":
            return print_events(settings.event_log_path, args.follow, args.type)
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
                if not type_prefix or _type_of(line).startswith(type_prefix):
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


if __name__ == "__main__":
    sys.exit(main())
