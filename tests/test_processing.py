"""Recording -> tagged MP3, with real ffmpeg/ffprobe and mutagen; names and templates against hostile text.

The audio fixtures are made once per module with ffmpeg (a 3 s sine tone in Matroska, as the capture writes it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mutagen.id3 import ID3, ID3NoHeaderError

from recorder.processing import (
    TEMPLATE_FIELDS,
    Chapter,
    Processed,
    ProcessingError,
    Tags,
    output_path,
    process,
    render_template,
    safe_file_name,
    to_mp3,
    write_chapters_sidecar,
    write_tags,
)

TONE_SECONDS = 3.0
VALUES = {"stream": "Radio One", "artist": "DJ {date}", "album": "Mornings", "album_artist": "R1",
          "date": "2024-05-01", "time": "07-00", "session": "42"}


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)],
                   stdin=subprocess.DEVNULL, check=True, capture_output=True, timeout=60)


def probe(path: Path) -> dict[str, str]:
    """First audio stream's codec and bit rate, and the file's duration, as ffprobe reports them."""
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                             "stream=codec_name,bit_rate:format=duration", "-of", "default=noprint_wrappers=1",
                             str(path)], capture_output=True, text=True, check=True, timeout=30)
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    tone = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={TONE_SECONDS:g}"]
    ffmpeg(*tone, "-metadata", "title=From the stream", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "matroska",
           folder / "mp3.mka")
    ffmpeg(*tone, "-c:a", "aac", "-b:a", "96k", "-f", "matroska", folder / "aac.mka")
    ffmpeg(*tone, "-c:a", "libvorbis", "-f", "matroska", folder / "vorbis.mka")
    ffmpeg(*tone, "-c:a", "libopus", "-f", "matroska", folder / "opus.mka")
    ffmpeg("-f", "lavfi", "-i", "color=red:s=16x16", "-frames:v", "1", folder / "cover.png")
    ffmpeg("-f", "lavfi", "-i", "color=blue:s=16x16", "-frames:v", "1", folder / "cover.jpg")
    (folder / "garbage.mka").write_bytes(b"this is not a Matroska file\n" * 50)
    (folder / "empty.mka").write_bytes(b"")
    (folder / "not-an-image.png").write_bytes(b"GIF89a" + bytes(64))
    # Probes fine but no decoder exists for it, so ffmpeg itself fails after the temp file was made.
    mka = (folder / "mp3.mka").read_bytes()
    (folder / "unknown-codec.mka").write_bytes(mka.replace(b"A_MPEG/L3", b"A_QQQQ/L3"))
    return {path.name: path for path in folder.iterdir()}


@pytest.fixture(scope="module")
def processed(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Processed:
    """One full run: AAC source, PNG cover, chapters given out of order."""
    tags = Tags("Morning Show", "DJ Ä", "Mornings", "Radio One", "2024-05-01", media["cover.png"])
    chapters = [Chapter(2.0, "Weather ☀"), Chapter(0.0, "Intro"), Chapter(1.25, "News")]
    return process(media["aac.mka"], tmp_path_factory.mktemp("out"), "Radio One 2024-05-01", tags, chapters)


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# --- to_mp3 ----------------------------------------------------------------------------------------------

def test_mp3_source_is_copied_not_reencoded(media: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "out.mp3"
    assert to_mp3(media["mp3.mka"], target, bitrate="320k") is True
    info = probe(target)
    assert info["codec_name"] == "mp3"
    assert info["bit_rate"] == "128000"  # the stream's own bitrate, not the 320k asked for re-encoding
    assert abs(float(info["duration"]) - TONE_SECONDS) < 0.2
    with pytest.raises(ID3NoHeaderError):  # the stream's title did not leak in; tags come from write_tags
        ID3(target)
    assert leftovers(tmp_path) == ["out.mp3"]


@pytest.mark.parametrize("source", ["aac.mka", "vorbis.mka", "opus.mka"])
def test_other_codecs_are_encoded_at_the_bitrate(media: dict[str, Path], tmp_path: Path, source: str) -> None:
    target = tmp_path / "out.mp3"
    assert to_mp3(media[source], target, bitrate="96k") is False
    info = probe(target)
    assert info["codec_name"] == "mp3"
    assert info["bit_rate"] == "96000"
    assert abs(float(info["duration"]) - TONE_SECONDS) < 0.2
    assert leftovers(tmp_path) == ["out.mp3"]


@pytest.mark.parametrize("source", ["garbage.mka", "empty.mka", "unknown-codec.mka"])
def test_unreadable_source_raises_ffmpeg_error_and_leaves_nothing(media: dict[str, Path], tmp_path: Path,
                                                                  source: str) -> None:
    with pytest.raises(ProcessingError) as error:
        to_mp3(media[source], tmp_path / "out.mp3")
    assert error.value.reason.startswith("FFmpeg error")
    assert error.value.path == media[source]
    assert str(error.value) == f"{error.value.reason} ({media[source]})"
    assert leftovers(tmp_path) == []


def test_unknown_codec_error_carries_ffmpegs_own_words(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ProcessingError, match=r"^FFmpeg error: .*not found"):
        to_mp3(media["unknown-codec.mka"], tmp_path / "out.mp3")


@pytest.mark.parametrize("bitrate", ["192", "1000k", "9k", "192k\n", "-1k", "192k -f null", ""])
def test_bitrate_is_validated(media: dict[str, Path], tmp_path: Path, bitrate: str) -> None:
    with pytest.raises(ValueError, match="bitrate"):
        to_mp3(media["aac.mka"], tmp_path / "out.mp3", bitrate)
    assert leftovers(tmp_path) == []


def test_existing_target_is_replaced_only_on_success(media: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "out.mp3"
    target.write_bytes(b"previous")
    with pytest.raises(ProcessingError):
        to_mp3(media["garbage.mka"], target)
    assert target.read_bytes() == b"previous"
    to_mp3(media["mp3.mka"], target)
    assert probe(target)["codec_name"] == "mp3"


# --- process ---------------------------------------------------------------------------------------------

def test_process_returns_what_it_made(processed: Processed) -> None:
    info = probe(processed.path)
    assert processed.path.name == "Radio One 2024-05-01.mp3"
    assert processed.codec_copied is False
    assert info["codec_name"] == "mp3" and info["bit_rate"] == "192000"
    assert processed.size_bytes == processed.path.stat().st_size
    assert abs(processed.duration_seconds - TONE_SECONDS) < 0.2
    assert abs(processed.duration_seconds - float(info["duration"])) < 0.01
    assert leftovers(processed.path.parent) == ["Radio One 2024-05-01.chapters.json", "Radio One 2024-05-01.mp3"]


def test_process_writes_id3v24_tags_and_cover(processed: Processed, media: dict[str, Path]) -> None:
    tags = ID3(processed.path)
    assert tags.version == (2, 4, 0)
    assert [(key, tags[key].text) for key in ("TIT2", "TPE1", "TALB", "TPE2")] == [
        ("TIT2", ["Morning Show"]), ("TPE1", ["DJ Ä"]), ("TALB", ["Mornings"]), ("TPE2", ["Radio One"])]
    assert [str(stamp) for stamp in tags["TDRC"].text] == ["2024-05-01"]
    [cover] = tags.getall("APIC")
    assert (cover.type, cover.mime, cover.data) == (3, "image/png", media["cover.png"].read_bytes())


def test_process_writes_chapters_in_order(processed: Processed) -> None:
    tags = ID3(processed.path)
    [toc] = tags.getall("CTOC")
    assert toc.element_id == "toc"
    assert toc.flags == 3  # top-level | ordered
    assert toc.child_element_ids == ["chp0", "chp1", "chp2"]
    chapters = {chap.element_id: chap for chap in tags.getall("CHAP")}
    end = round(processed.duration_seconds * 1000)
    assert [(chapters[i].start_time, chapters[i].end_time, chapters[i].sub_frames["TIT2"].text)
            for i in toc.child_element_ids] == [
        (0, 1250, ["Intro"]), (1250, 2000, ["News"]), (2000, end, ["Weather ☀"])]


def test_process_writes_the_chapters_sidecar(processed: Processed) -> None:
    sidecar = processed.path.with_name("Radio One 2024-05-01.chapters.json")
    assert json.loads(sidecar.read_text(encoding="utf-8")) == [
        {"start_seconds": 0.0, "start": "00:00:00", "title": "Intro"},
        {"start_seconds": 1.25, "start": "00:00:01", "title": "News"},
        {"start_seconds": 2.0, "start": "00:00:02", "title": "Weather ☀"}]
    assert "☀" in sidecar.read_text(encoding="utf-8")  # UTF-8, not \\u escapes


def test_process_copies_mp3_without_chapters_and_never_overwrites(media: dict[str, Path], tmp_path: Path) -> None:
    tags = Tags("T", "", "", "", "")
    first = process(media["mp3.mka"], tmp_path, "../../show", tags, [])
    second = process(media["mp3.mka"], tmp_path, "../../show", tags, [])
    assert (first.path, second.path) == (tmp_path / "_._show.mp3", tmp_path / "_._show (2).mp3")
    assert first.codec_copied and probe(first.path)["bit_rate"] == "128000"
    assert leftovers(tmp_path) == ["_._show (2).mp3", "_._show.mp3"]  # no sidecar without chapters
    id3 = ID3(first.path)
    assert sorted(id3.keys()) == ["TIT2"]  # empty fields are left out; nothing from the stream


@pytest.mark.parametrize("source", ["garbage.mka", "empty.mka", "unknown-codec.mka"])
def test_process_failure_leaves_nothing(media: dict[str, Path], tmp_path: Path, source: str) -> None:
    with pytest.raises(ProcessingError, match="^FFmpeg error"):
        process(media[source], tmp_path, "show", Tags("T", "A", "B", "C", "2024-01-01"), [Chapter(0, "x")])
    assert leftovers(tmp_path) == []


def test_process_with_bad_artwork_removes_the_mp3(media: dict[str, Path], tmp_path: Path) -> None:
    tags = Tags("T", "A", "B", "C", "2024-01-01", media["not-an-image.png"])
    with pytest.raises(ProcessingError, match="artwork is not a JPEG or PNG") as error:
        process(media["aac.mka"], tmp_path, "show", tags, [Chapter(0, "x")])
    assert error.value.path == media["not-an-image.png"]
    assert leftovers(tmp_path) == []


def test_process_turns_a_bad_bitrate_into_processing_error(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ProcessingError, match="bitrate"):
        process(media["aac.mka"], tmp_path, "show", Tags("T", "", "", "", ""), [], bitrate="lots")
    assert leftovers(tmp_path) == []


# --- write_tags ------------------------------------------------------------------------------------------

@pytest.fixture
def plain_mp3(media: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "plain.mp3"
    to_mp3(media["mp3.mka"], target)
    return target


def test_jpeg_cover_is_detected_by_content(plain_mp3: Path, media: dict[str, Path], tmp_path: Path) -> None:
    disguised = tmp_path / "cover.png"  # a JPEG named .png: the content decides
    disguised.write_bytes(media["cover.jpg"].read_bytes())
    write_tags(plain_mp3, Tags("T", "", "", "", "", disguised), [], 3.0)
    [cover] = ID3(plain_mp3).getall("APIC")
    assert (cover.type, cover.mime, cover.data) == (3, "image/jpeg", media["cover.jpg"].read_bytes())



def test_any_cover_the_upload_takes_is_embedded(plain_mp3: Path, media: dict[str, Path], tmp_path: Path) -> None:
    """Regression: tagging refused covers over 10,000,000 bytes that MAX_ARTWORK_SIZE_MB=10 (10 MiB) accepts,
    so every recording of that stream failed."""
    big = tmp_path / "big.jpg"
    big.write_bytes(media["cover.jpg"].read_bytes() + b"\0" * (10 * 2**20 - 1000))
    write_tags(plain_mp3, Tags("T", "", "", "", "", big), [], 3.0)
    [cover] = ID3(plain_mp3).getall("APIC")
    assert len(cover.data) == big.stat().st_size > 10_000_000

def test_missing_artwork_is_a_processing_error(plain_mp3: Path, tmp_path: Path) -> None:
    with pytest.raises(ProcessingError, match="cannot read artwork") as error:
        write_tags(plain_mp3, Tags("T", "", "", "", "", tmp_path / "nope.jpg"), [], 3.0)
    assert error.value.path == tmp_path / "nope.jpg"


def test_tag_text_loses_control_characters(plain_mp3: Path) -> None:
    write_tags(plain_mp3, Tags("a\x00b\nc", "x\x1b[31m", "", "", ""), [Chapter(0, "one\x00two")], 3.0)
    tags = ID3(plain_mp3)
    assert tags["TIT2"].text == ["a b c"]  # one value: NUL would have split it in two
    assert tags["TPE1"].text == ["x [31m"]
    assert tags.getall("CHAP")[0].sub_frames["TIT2"].text == ["one two"]


def test_write_tags_replaces_previous_tags_and_clamps_the_last_chapter(plain_mp3: Path) -> None:
    write_tags(plain_mp3, Tags("Old", "Old", "Old", "Old", "1999-01-01"), [Chapter(0, "a")], 3.0)
    write_tags(plain_mp3, Tags("New", "", "", "", ""), [Chapter(5.0, "late")], 3.0)
    tags = ID3(plain_mp3)
    assert sorted(tags.keys()) == ["CHAP:chp0", "CTOC:toc", "TIT2"]
    assert tags["TIT2"].text == ["New"]
    chap = tags["CHAP:chp0"]
    assert (chap.start_time, chap.end_time) == (5000, 5000)  # never ends before it starts


def test_write_tags_on_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ProcessingError, match="cannot write tags") as error:
        write_tags(tmp_path / "gone.mp3", Tags("T", "", "", "", ""), [], 1.0)
    assert error.value.path == tmp_path / "gone.mp3"
    assert leftovers(tmp_path) == []  # mutagen alone would have made a tags-only file


def test_bad_dates_and_chapter_starts_are_rejected() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Tags("T", "", "", "", "01.05.2024")
    for start in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="chapter start"):
            Chapter(start, "x")


def test_sidecar_is_written_atomically_in_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.chapters.json"
    path.write_text("old")
    write_chapters_sidecar(path, [Chapter(3725.5, "Über"), Chapter(0, "Start")])
    assert json.loads(path.read_bytes().decode("utf-8")) == [
        {"start_seconds": 0.0, "start": "00:00:00", "title": "Start"},
        {"start_seconds": 3725.5, "start": "01:02:05", "title": "Über"}]
    assert leftovers(tmp_path) == ["x.chapters.json"]


# --- render_template -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "expected"), [
    ("{stream} {date} {time}", "Radio One 2024-05-01 07-00"),
    ("{artist}", "DJ {date}"),  # values go in literally, never expanded again
    ("{{literal}} {session}", "{literal} 42"),
    ("{{{stream}}}", "{Radio One}"),
    ("}}{{", "}{"),
    ("no placeholders", "no placeholders"),
    ("", ""),
])
def test_render_template(template: str, expected: str) -> None:
    assert render_template(template, VALUES) == expected


@pytest.mark.parametrize("template", [
    "{name.__class__.__mro__}", "{stream.__class__}", "{0}", "{}", "{stream[0]}", "{stream!r}", "{date:%Y}",
    "{ stream }", "{Stream}", "{stream", "stream}", "{", "}", "{{stream}", "{a{stream}}",
])
def test_render_template_rejects_anything_but_known_fields(template: str) -> None:
    with pytest.raises(ValueError, match="^unknown placeholder") as error:
        render_template(template, VALUES)
    assert all(f"{{{field}}}" in str(error.value) for field in TEMPLATE_FIELDS)


def test_render_template_names_the_bad_placeholder() -> None:
    with pytest.raises(ValueError) as error:
        render_template("x {name.__class__.__mro__} y", VALUES)
    assert str(error.value).startswith("unknown placeholder {name.__class__.__mro__} (use {stream}, ")


def test_render_template_needs_a_value_for_each_field_used() -> None:
    with pytest.raises(ValueError, match="no value"):
        render_template("{session}", {"stream": "x"})


@given(st.dictionaries(st.sampled_from(TEMPLATE_FIELDS), st.text(), min_size=len(TEMPLATE_FIELDS)))
def test_values_are_inserted_literally(values: dict[str, str]) -> None:
    template = " ".join(f"{{{field}}}" for field in TEMPLATE_FIELDS)
    assert render_template(template, values) == " ".join(values[field] for field in TEMPLATE_FIELDS)


# --- safe_file_name and output_path ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Radio One 2024-05-01", "Radio One 2024-05-01"),
    ("../../etc/passwd", "_._etc_passwd"),  # no separator; dot runs collapse, so no ".." either
    ("..", "recording"),
    (".hidden", "hidden"),
    ("-rf", "rf"),
    ("--help me", "help me"),
    ("a\x00b", "a_b"),
    ("a\x01b\x7fc\x1bd", "a_b_c_d"),
    ("tab\there\nnew", "tab_here_new"),
    ("a/b\\c", "a_b_c"),
    ("C:\\Windows\\x", "C__Windows_x"),
    ("Café Crème – été", "Café Crème _ été"),
    ("Cafe\u0301", "Café"),  # NFC: a decomposed é becomes one letter
    ("हिन्दी", "हिन्दी"),  # combining vowel signs stay with their letters
    ("Show 🎙️ live", "Show __ live"),  # emoji and its variation selector
    ("Rock & Roll (Live), it's", "Rock & Roll (Live), it's"),
    ("a    b\u00a0\u2003c", "a b c"),
    ("  .- trimmed -.  ", "trimmed"),
    ("Wait...", "Wait"),
    ("", "recording"),
    ("///", "___"),
    ("\u202eevil\u202dgpj.exe", "_evil_gpj.exe"),  # no bidi overrides
    ("CON", "_CON"),
    ("nul.show", "_nul.show"),
    ("{stream}", "_stream_"),
])
def test_safe_file_name(text: str, expected: str) -> None:
    assert safe_file_name(text) == expected


def test_long_names_are_cut_cleanly() -> None:
    assert safe_file_name("x" * 1000) == "x" * 150
    assert safe_file_name("ab " * 100, max_length=20) == "ab ab ab ab ab ab ab"  # no trailing space
    assert safe_file_name("é" * 150, max_length=150) == "é" * 100  # at most 200 bytes of UTF-8
    assert safe_file_name("ab" + "\u0301" * 10, max_length=5) == "a"  # no letter torn from its marks
    assert len(safe_file_name("😀" * 500)) == 150


def test_output_path_numbers_taken_names(tmp_path: Path) -> None:
    assert output_path(tmp_path, "show") == tmp_path / "show.mp3"
    (tmp_path / "show.mp3").touch()
    (tmp_path / "show (2).mp3").symlink_to(tmp_path / "missing")  # dangling links count as taken too
    assert output_path(tmp_path, "show") == tmp_path / "show (3).mp3"
    assert output_path(tmp_path, "show", ".chapters.json") == tmp_path / "show.chapters.json"


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "..", ".", "", "~root", "a/../../b"])
def test_output_path_stays_in_the_folder(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    assert output_path(folder, name).parent == folder


def test_output_path_refuses_a_path_outside(tmp_path: Path) -> None:
    with pytest.raises(ProcessingError, match="outside"):
        output_path(tmp_path, "x", suffix="/../../escape.mp3")


@pytest.fixture(scope="module")
def property_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("names")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_safe_name_inside_the_folder(property_folder: Path, text: str) -> None:
    name = safe_file_name(text)
    assert name and "/" not in name and "\x00" not in name
    assert not name.startswith((".", "-")) and ".." not in name
    assert len(name) <= 150 and len(name.encode("utf-8", "surrogatepass")) <= 200
    path = output_path(property_folder, text)
    assert path.resolve().parent == property_folder.resolve()
    path.touch()  # the file system takes the name, too
    os.unlink(path)
