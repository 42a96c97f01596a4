"""Cover art files: checked by content and size, stored under generated names (no user-supplied paths)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .processing import image_mime

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class ArtworkError(ValueError):
    """An uploaded file is not usable cover art; the message says why."""


def save_artwork(folder: Path, stream_id: int, data: bytes, max_bytes: int) -> str:
    """Store the image and return its generated file name (relative to `folder`)."""
    if not data:
        raise ArtworkError("the artwork file is empty")
    if len(data) > max_bytes:
        raise ArtworkError(f"the artwork is larger than {max_bytes // 2**20} MB (MAX_ARTWORK_SIZE_MB)")
    mime = image_mime(data)
    if mime is None:
        raise ArtworkError("the artwork must be a JPEG or PNG image")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"stream-{stream_id}-{secrets.token_hex(8)}.{EXTENSIONS[mime]}"
    temporary = folder / f".{name}.part"
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, folder / name)
    return name


def artwork_path(folder: Path, name: str) -> Path | None:
    """The stored file for a name from the log, or None; a name can never point outside the folder."""
    if not name or Path(name).name != name or name.startswith("."):
        return None
    path = folder / name
    return path if path.is_file() else None


def remove_artwork(folder: Path, name: str) -> None:
    path = artwork_path(folder, name)
    if path is not None:
        path.unlink(missing_ok=True)
