"""Turning a session's `recording.mka` into the finished, tagged MP3 users get.

Everything a user typed (name templates, titles, chapter names) reaches the file system and the tags only
through `render_template` (no `str.format` on user text) and `safe_file_name` (no path can leave the folder).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from mutagen import MutagenError
from mutagen.id3 import APIC, CHAP, CTOC, ID3, TALB, TDRC, TIT2, TPE1, TPE2, CTOCFlags, Frame, PictureType


class ProcessingError(Exception):
    """Turning a recording into a tagged MP3 failed; says which file and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{reason} ({path})")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Chapter:
    start_seconds: float
    title: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_seconds) or self.start_seconds < 0:
            raise ValueError(f"chapter start must be a finite number of seconds >= 0, not {self.start_seconds}")


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str
    album: str
    album_artist: str
    date: str  # "YYYY-MM-DD" (or "" for none)
    artwork: Path | None = None  # a JPEG or PNG file, embedded as the front cover

    def __post_init__(self) -> None:
        if self.date and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", self.date):
            raise ValueError(f"date must look like YYYY-MM-DD, not {self.date!r}")


@dataclass(frozen=True)
class Processed:
    path: Path
    size_bytes: int
    duration_seconds: float
    codec_copied: bool  # the audio was already MP3 and was copied without re-encoding


TEMPLATE_FIELDS = ("stream", "artist", "album", "album_artist", "date", "time", "session")
FALLBACK_NAME = "recording"
MAX_NAME_BYTES = 200  # ext4 & co. allow 255 bytes per name; leave room for " (12)" and ".chapters.json"
# Uploads are held to MAX_ARTWORK_SIZE_MB; this only guards tagging against something absurd (the setting's
# largest value), so art the upload took never fails a recording.
MAX_ARTWORK_BYTES = 100 * 2**20
PROBE_TIMEOUT_SECONDS = 60
FFMPEG_TIMEOUT_SECONDS = 4 * 3600
_TOKEN = re.compile(r"\{\{|\}\}|\{[^{}]*\}?|\}")
_ALLOWED_PUNCTUATION = frozenset(" -_.(),'&")
_STRIPPED_AT_ENDS = ". -"
_INVISIBLE_MARKS = re.compile("[\u034f\u180b-\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)),
                               *(f"LPT{n}" for n in range(10))})
BITRATE = re.compile(r"[0-9]{2,3}k")
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


# -- names ---------------------------------------------------------------------------------------------------

def render_template(template: str, values: Mapping[str, str]) -> str:
    """Fill `{field}` placeholders by plain substitution: user text is never handed to `str.format`."""
    return _TOKEN.sub(lambda match: _placeholder(match.group(), values), template)


def _placeholder(token: str, values: Mapping[str, str]) -> str:
    if token in ("{{", "}}"):
        return token[0]
    field = token[1:-1] if token.startswith("{") and token.endswith("}") else None
    if field not in TEMPLATE_FIELDS:
        allowed = ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS)
        shown = token if len(token) <= 60 else token[:57] + "..."
        raise ValueError(f"unknown placeholder {shown} (use {allowed}; write {{{{ or }}}} for a literal brace)")
    if field not in values:
        raise ValueError(f"no value for placeholder {token}")
    return values[field]


def safe_file_name(text: str, max_length: int = 150) -> str:
    """A file name stem that is harmless anywhere: no separators, controls, hidden files or option look-alikes."""
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    kept: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        kept.append(_safe_char(char, kept[-1] if kept else ""))
    name = re.sub(r"\.{2,}", ".", re.sub(r" {2,}", " ", "".join(kept)))
    name = _cut(name.strip(_STRIPPED_AT_ENDS), max_length).strip(_STRIPPED_AT_ENDS)
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        name = "_" + name  # CON, NUL, COM1... cannot be opened on Windows shares
    return name or FALLBACK_NAME


def _safe_char(char: str, previous: str) -> str:
    category = unicodedata.category(char)
    if category.startswith("L") or category == "Nd" or char in _ALLOWED_PUNCTUATION:
        return char
    if category == "Zs":
        return " "
    # Combining marks belong to the letter before them (Devanagari, Thai, Arabic vowel signs...).
    if category in ("Mn", "Mc") and previous and _is_letter_or_mark(previous) and not _INVISIBLE_MARKS.match(char):
        return char
    return "_"


def _is_letter_or_mark(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


def _cut(name: str, max_length: int) -> str:
    """Shorten to `max_length` characters and MAX_NAME_BYTES of UTF-8, never splitting a letter from its marks."""
    cut = name[:max_length].encode()[:MAX_NAME_BYTES].decode("utf-8", "ignore")
    while cut and len(cut) < len(name) and unicodedata.category(name[len(cut)]) in ("Mn", "Mc"):
        cut = cut[:-1]
    return cut


def output_path(folder: Path, name: str, suffix: str = ".mp3") -> Path:
    """A new file in `folder` for `name`, numbered ` (2)`, ` (3)`... when taken; never a path outside `folder`."""
    root = folder.resolve()
    stem = safe_file_name(name)
    for number in range(1, 10_000):
        candidate = folder / f"{stem}{f' ({number})' if number > 1 else ''}{suffix}"
        if not os.path.lexists(candidate):  # a dangling symlink counts as taken
            break
    else:
        raise ProcessingError(folder, f"too many files named {stem}{suffix}")
    if candidate.resolve().parent != root:
        raise ProcessingError(candidate, "output file would be outside the recordings folder")
    return candidate


# -- ffmpeg --------------------------------------------------------------------------------------------------

def to_mp3(source: Path, target: Path, bitrate: str = "192k") -> bool:
    """Make `target` an MP3 of the source's first audio stream; copy MP3 as it is. Returns whether it copied."""
    if not BITRATE.fullmatch(bitrate):
        raise ValueError(f"bitrate must look like 192k, not {bitrate!r}")
    codec = probe_codec(source)
    temp = _temp_beside(target)
    try:
        result = run_tool(mp3_argv(source, temp, codec, bitrate), source, FFMPEG_TIMEOUT_SECONDS)
        if result.returncode != 0:
            raise ProcessingError(source, f"FFmpeg error: {error_tail(result)}")
        if temp.stat().st_size == 0:
            raise ProcessingError(source, "FFmpeg error: no audio was written")
        os.replace(temp, target)
    except OSError as exc:
        raise ProcessingError(target, f"cannot write the MP3: {exc.strerror or exc}") from exc
    finally:
        temp.unlink(missing_ok=True)  # already gone after a successful replace
    return codec == "mp3"


def mp3_argv(source: Path, target: Path, codec: str, bitrate: str) -> list[str]:
    """The ffmpeg command: stream copy for MP3, LAME otherwise; no metadata from the stream gets through.

    ffmpeg itself downmixes and resamples what LAME cannot take (5.1, 96 kHz) to stereo, 48 kHz.
    """
    encode = ["-c:a", "copy"] if codec == "mp3" else ["-c:a", "libmp3lame", "-b:a", bitrate]
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-protocol_whitelist", "file",
            "-i", _ffmpeg_file(source), "-map", "0:a:0", "-map_metadata", "-1", "-map_chapters", "-1", *encode,
            "-id3v2_version", "0", "-write_xing", "1", "-f", "mp3", _ffmpeg_file(target)]


def probe_codec(path: Path) -> str:
    """The codec of the first audio stream (`mp3`, `aac`, `vorbis`, `opus`...)."""
    fields = _ffprobe(path, "-select_streams", "a:0", "-show_entries", "stream=codec_name")
    if not fields.get("codec_name"):
        raise ProcessingError(path, "FFmpeg error: no audio stream found")
    return fields["codec_name"]


def probe_duration(path: Path) -> float:
    """Length in seconds, as players will show it."""
    fields = _ffprobe(path, "-show_entries", "format=duration")
    try:
        return round(float(fields["duration"]), 3)
    except (KeyError, ValueError):
        raise ProcessingError(path, "FFmpeg error: cannot read the duration") from None


def _ffprobe(path: Path, *selection: str) -> dict[str, str]:
    argv = ["ffprobe", "-v", "error", "-protocol_whitelist", "file", *selection, "-of", "default=noprint_wrappers=1",
            _ffmpeg_file(path)]
    result = run_tool(argv, path, PROBE_TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise ProcessingError(path, f"FFmpeg error: cannot read the file: {error_tail(result)}")
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def run_tool(argv: list[str], path: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ffmpeg or ffprobe on a local file; a timeout or a missing program is a ProcessingError."""
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ProcessingError(path, f"FFmpeg error: {argv[0]} took longer than {timeout:.0f} s") from None
    except OSError as exc:
        raise ProcessingError(path, f"FFmpeg error: cannot run {argv[0]}: {exc.strerror or exc}") from exc


def _ffmpeg_file(path: Path) -> str:
    """An absolute `file:` URL, so no name is read as an option (`-x`) or another protocol (`http:`)."""
    return "file:" + str(path.absolute())


def error_tail(result: subprocess.CompletedProcess[str], lines: int = 5) -> str:
    """The last lines a tool wrote to stderr, for an error message."""
    last = [line.strip() for line in result.stderr.splitlines() if line.strip()][-lines:]
    return "; ".join(last)[-600:] or f"exit code {result.returncode}"



# -- tags and chapters ---------------------------------------------------------------------------------------

def write_tags(mp3: Path, tags: Tags, chapters: Sequence[Chapter], duration_seconds: float) -> None:
    """Replace the MP3's tags with ID3v2.4 text frames, the cover and chapter frames (any ID3v1 tag is removed)."""
    id3 = ID3()
    for frame in [*text_frames(tags), *_artwork_frames(tags.artwork), *chapter_frames(chapters, duration_seconds)]:
        id3.add(frame)
    try:
        with open(mp3, "rb+") as handle:  # not save(path): mutagen would create a missing file, tags only
            id3.save(handle, v1=0, v2_version=4)
    except (MutagenError, OSError) as exc:
        raise ProcessingError(mp3, f"cannot write tags: {exc}") from exc


def text_frames(tags: Tags) -> list[Frame]:
    """The text frames for the fields that are set."""
    fields = [(TIT2, tags.title), (TPE1, tags.artist), (TALB, tags.album), (TPE2, tags.album_artist),
              (TDRC, tags.date)]
    return [kind(encoding=3, text=[_clean(value)]) for kind, value in fields if _clean(value)]


def chapter_frames(chapters: Sequence[Chapter], duration_seconds: float) -> list[Frame]:
    """One CHAP per chapter (ending where the next starts) and a top-level, ordered CTOC listing them."""
    ordered = sorted(chapters, key=lambda chapter: chapter.start_seconds)
    if not ordered:
        return []
    starts = [_ms(chapter.start_seconds) for chapter in ordered]
    ends = [max(end, start) for start, end in zip(starts, [*starts[1:], _ms(duration_seconds)])]
    ids = [f"chp{index}" for index in range(len(ordered))]
    frames: list[Frame] = [CHAP(element_id=element_id, start_time=start, end_time=end,
                                sub_frames=[TIT2(encoding=3, text=[_clean(chapter.title)])])
                           for element_id, start, end, chapter in zip(ids, starts, ends, ordered)]
    frames.append(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                       sub_frames=[]))
    return frames


def _artwork_frames(artwork: Path | None) -> list[Frame]:
    if artwork is None:
        return []
    try:
        if artwork.stat().st_size > MAX_ARTWORK_BYTES:
            raise ProcessingError(artwork, f"artwork is larger than {MAX_ARTWORK_BYTES // 2**20} MB")
        data = artwork.read_bytes()
    except OSError as exc:
        raise ProcessingError(artwork, f"cannot read artwork: {exc.strerror or exc}") from exc
    mime = image_mime(data)
    if mime is None:
        raise ProcessingError(artwork, "artwork is not a JPEG or PNG")
    return [APIC(encoding=3, mime=mime, type=PictureType.COVER_FRONT, desc="Cover", data=data)]


def image_mime(data: bytes) -> str | None:
    """The picture's type by its content (never by its name)."""
    return "image/jpeg" if data.startswith(_JPEG) else "image/png" if data.startswith(_PNG) else None


def _clean(text: str) -> str:
    """Tag text without control characters (NUL separates values in ID3v2.4) or lone surrogates."""
    return "".join(" " if unicodedata.category(char) == "Cc" else "\ufffd" if unicodedata.category(char) == "Cs"
                   else char for char in text).strip()


def _ms(seconds: float) -> int:
    return min(max(round(seconds * 1000), 0), 0xFFFFFFFE) if math.isfinite(seconds) else 0


def sidecar_path(mp3: Path) -> Path:
    """Where a recording's chapters file lives: beside it, same name."""
    return mp3.with_suffix(".chapters.json")


def write_chapters_sidecar(path: Path, chapters: Sequence[Chapter]) -> None:
    """Chapters as JSON beside the MP3, for players and web pages that do not read ID3 chapters."""
    _write_atomic(path, chapters_json(chapters).encode("utf-8"))


def chapters_json(chapters: Sequence[Chapter]) -> str:
    """`[{"start_seconds": 0.0, "start": "00:00:00", "title": "..."}, ...]` in start order."""
    return json.dumps([{"start_seconds": round(float(chapter.start_seconds), 3), "start": clock(chapter.start_seconds),
                        "title": _clean(chapter.title)}
                       for chapter in sorted(chapters, key=lambda chapter: chapter.start_seconds)],
                      ensure_ascii=False, indent=2) + "\n"


def clock(seconds: float) -> str:
    """HH:MM:SS, whole seconds (hours may pass 99)."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _temp_beside(target: Path) -> Path:
    """A new hidden file in the target's folder, so the final `os.replace` is an atomic rename."""
    for _ in range(100):
        temp = target.parent / f".processing-{secrets.token_hex(6)}.part"
        try:  # not mkstemp: its 0600 would stay on the finished file; 0666 lets the umask decide, as usual
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise ProcessingError(target, f"cannot create a temporary file: {exc.strerror or exc}") from exc
    raise ProcessingError(target, "cannot create a temporary file")


def _write_atomic(path: Path, data: bytes) -> None:
    temp = _temp_beside(path)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # make sure the data is on disk before it takes the final name
        os.replace(temp, path)
    except OSError as exc:
        raise ProcessingError(path, f"cannot write: {exc.strerror or exc}") from exc
    finally:
        temp.unlink(missing_ok=True)


# -- the whole step ------------------------------------------------------------------------------------------

def process(recording: Path, folder: Path, name: str, tags: Tags, chapters: Sequence[Chapter],
            bitrate: str = "192k") -> Processed:
    """Recording -> a new tagged MP3 in `folder` (plus a chapters sidecar); nothing half-made is left on failure."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = output_path(folder, name)
        copied = to_mp3(recording, target, bitrate)
    except (ValueError, OSError) as exc:
        raise ProcessingError(recording, str(exc)) from exc
    try:
        duration = probe_duration(target)
        write_tags(target, tags, chapters, duration)
        size = target.stat().st_size
        if chapters:
            write_chapters_sidecar(sidecar_path(target), chapters)
    except BaseException as exc:
        target.unlink(missing_ok=True)  # no half-made MP3 behind
        if isinstance(exc, OSError):
            raise ProcessingError(target, f"cannot finish the MP3: {exc.strerror or exc}") from exc
        raise
    return Processed(target, size, duration, copied)
