"""Backups: a snapshot of the event log (and, if asked, the artwork) in one archive with a checked manifest.

An archive is a gzipped tar holding `manifest.json`, `events.jsonl` (the log's whole lines up to `seq`) and
optionally `artwork/<file>`. Validation opens it, checks every checksum and member name, parses every event and
replays them; restoring never starts from an archive that fails any of that. A log copied by hand is the same
thing without the manifest: `import_log` wraps it so it restores too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .eventlog import LogCorruptError, scan
from .validation import SCHEDULE_FIELDS, STREAM_FIELDS, Invalid, clean
from .views import Views, replay

FORMAT = "audio-stream-recorder-backup"
FORMAT_VERSION = 1
SUFFIX = ".tar.gz"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
MAX_MEMBER_BYTES = 512 * 2**20


class BackupError(ValueError):
    """A backup cannot be made, found or used; the message says why."""


@dataclass(frozen=True)
class Snapshot:
    """What a valid archive holds."""

    manifest: dict[str, Any]
    views: Views  # the state the archive's log replays to
    artwork: dict[str, bytes]


def archive_path(folder: Path, name: str) -> Path:
    """The archive for a backup name; names are plain (letters, digits, . _ -), so none can leave the folder."""
    name = name.removesuffix(SUFFIX)
    if not NAME.fullmatch(name) or ".." in name:
        raise BackupError(f"backup names use letters, digits, '.', '_' and '-' (at most 80), not {name!r}")
    return folder / f"{name}{SUFFIX}"


def create(folder: Path, log_path: Path, artwork_dir: Path, name: str | None, include_artwork: bool,
           now: datetime | None = None) -> dict[str, Any]:
    """Write a new archive from the log's durable lines; refuses to overwrite an existing backup."""
    now = now or datetime.now(timezone.utc)
    path = archive_path(folder, name or f"backup-{now.strftime('%Y%m%d-%H%M%S')}")
    if path.exists():
        raise BackupError(f"a backup named {path.name.removesuffix(SUFFIX)!r} already exists")
    data = log_path.read_bytes() if log_path.exists() else b""
    found = scan(data)
    log_bytes = data[:found.end]
    members = {"events.jsonl": log_bytes}
    views = replay(found.events)
    if include_artwork:
        names = {row["artwork"] for row in views.streams() if row["artwork"]}
        for artwork in sorted(names):
            if (artwork_dir / artwork).is_file():
                members[f"artwork/{artwork}"] = (artwork_dir / artwork).read_bytes()
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "app_version": __version__,
                "created_at": now.isoformat(), "name": path.name.removesuffix(SUFFIX),
                "seq": found.events[-1].seq if found.events else 0, "include_artwork": include_artwork,
                "counts": {"events": len(found.events), "streams": len(views.streams()),
                           "schedules": len(views.schedules())},
                "sha256": {member: hashlib.sha256(content).hexdigest() for member, content in members.items()}}
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{path.name}.part"
    with tarfile.open(temporary, "w:gz") as archive:
        for member, content in {"manifest.json": json.dumps(manifest, indent=2).encode(), **members}.items():
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(content), int(now.timestamp()), 0o644
            archive.addfile(info, io.BytesIO(content))
    os.replace(temporary, path)
    return describe(path)


def load(path: Path) -> Snapshot:
    """Open and check an archive completely; BackupError with every problem found otherwise."""
    snapshot, errors = _read(path)
    if snapshot is None:
        raise BackupError("; ".join(errors))
    return snapshot


def problems(path: Path) -> list[str]:
    """Everything wrong with an archive, in words ([] when it can be restored)."""
    return _read(path)[1]


def _read(path: Path) -> tuple[Snapshot | None, list[str]]:
    """The archive opened, checked and replayed once, or everything wrong with it."""
    if not path.is_file():
        return None, [f"no backup named {path.name.removesuffix(SUFFIX)!r}"]
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = _members(archive)
    except (tarfile.TarError, OSError, EOFError, BackupError) as error:
        return None, [f"not a readable backup archive ({error})"]
    if "manifest.json" not in members or "events.jsonl" not in members:
        return None, ["not a recorder backup: manifest.json or events.jsonl is missing"]
    try:
        manifest = json.loads(members["manifest.json"])
    except ValueError:
        return None, ["manifest.json is not JSON"]
    errors = _manifest_problems(manifest, members)
    if errors:
        return None, errors
    try:
        found = scan(members["events.jsonl"])
        if found.torn:
            raise LogCorruptError("the last line is cut off")
        views = replay(found.events)
    except LogCorruptError as error:
        return None, [f"events.jsonl is damaged: {error}"]
    if (found.events[-1].seq if found.events else 0) != manifest.get("seq"):
        return None, ["the manifest's seq does not match the events"]
    errors = _config_problems(views)
    if errors:
        return None, errors
    artwork = {name.removeprefix("artwork/"): data for name, data in members.items() if name.startswith("artwork/")}
    return Snapshot(manifest, views, artwork), []


def _config_problems(views: Views) -> list[str]:
    """Restore appends the backup's streams and schedules as they are, so they must pass the input checks too
    (an archive's checksums prove nothing about who made it)."""
    errors = []
    stream_ids = {row.doc_id for row in views.streams()}
    for table, validators in (("streams", STREAM_FIELDS), ("schedules", SCHEDULE_FIELDS)):
        for row in views.all(table):
            try:
                clean({name: row[name] for name in validators}, validators, ())
            except Invalid as error:
                errors.append(f"{table[:-1]} {row.doc_id}: {error.field}: {error.message}")
            if table == "schedules" and row["stream_id"] not in stream_ids:
                errors.append(f"schedule {row.doc_id}: its stream {row['stream_id']} is not in the backup")
    for row in views.all("hosts"):
        if not (isinstance(row["host"], str) and isinstance(row["port"], int) and isinstance(row["key_type"], str)
                and isinstance(row["key_base64"], str) and isinstance(row["fingerprint"], str)):
            errors.append(f"trusted host {row['host']!r}: its key is not stored as text")
    return errors


def _members(archive: tarfile.TarFile) -> dict[str, bytes]:
    """Regular files with plain names only: no links, no absolute paths, no `..`, nothing huge."""
    members: dict[str, bytes] = {}
    for info in archive.getmembers():
        name = info.name
        if not info.isfile() or name.startswith("/") or ".." in name.split("/"):
            raise BackupError(f"unexpected entry {name!r}")
        if not (name in ("manifest.json", "events.jsonl") or re.fullmatch(r"artwork/[A-Za-z0-9][A-Za-z0-9._-]*", name)):
            raise BackupError(f"unexpected entry {name!r}")
        if info.size > MAX_MEMBER_BYTES:
            raise BackupError(f"{name} is larger than {MAX_MEMBER_BYTES // 2**20} MB")
        extracted = archive.extractfile(info)
        members[name] = extracted.read() if extracted else b""
    return members


def _manifest_problems(manifest: Any, members: dict[str, bytes]) -> list[str]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return ["not a recorder backup (foreign manifest)"]
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        return [f"made by a newer recorder (backup format {version}; this one reads up to {FORMAT_VERSION})"]
    sums = manifest.get("sha256") or {}
    errors = [f"{name} does not match its checksum" for name, content in members.items()
              if name != "manifest.json" and sums.get(name) != hashlib.sha256(content).hexdigest()]
    errors += [f"{name} is listed but missing" for name in sums if name not in members]
    return errors


def describe(path: Path) -> dict[str, Any]:
    """A backup as the list shows it; the manifest is read without checking the whole archive."""
    info: dict[str, Any] = {"name": path.name.removesuffix(SUFFIX), "size_bytes": path.stat().st_size,
                            "modified": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat()}
    try:
        with tarfile.open(path, "r:gz") as archive:
            member = archive.extractfile("manifest.json")
            manifest = json.loads(member.read()) if member else {}
        info.update({key: manifest.get(key) for key in ("created_at", "seq", "counts", "include_artwork")})
    except (tarfile.TarError, OSError, EOFError, KeyError, ValueError):
        info["damaged"] = True
    return info


def list_backups(folder: Path) -> list[dict[str, Any]]:
    paths = sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.exists() else []
    return [describe(path) for path in paths if not path.name.startswith(".")]


def prune(folder: Path, prefix: str, keep: int) -> list[str]:
    """Delete the oldest automatic backups beyond `keep`; manual ones are never touched."""
    automatic = sorted(folder.glob(f"{prefix}*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for path in automatic[keep:]:
        path.unlink()
        removed.append(path.name.removesuffix(SUFFIX))
    return removed


def import_log(folder: Path, log_copy: Path, name: str) -> dict[str, Any]:
    """Wrap a hand-copied events.jsonl into a backup (checked like any other) so it can be restored."""
    return create(folder, log_copy, folder, name, include_artwork=False)
