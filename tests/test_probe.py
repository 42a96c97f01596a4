"""The stream test against real servers on 127.0.0.1: a looping ICY radio, error pages, stalls, redirects."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder import probe as probe_module
from recorder import recording
from recorder.probe import PROTOCOL_WHITELIST, ProbeResult, ffprobe_argv, probe

from conftest import free_port
from sources import record
from streams import StreamServer, icy_block, make_mp3

BYTES_PER_SECOND = 128_000 // 8
BURST = 2 * BYTES_PER_SECOND  # like Icecast's burst-on-connect, so ffprobe has its first frames at once
METAINT = 16_000
TITLE = "Artist - Song"
AGENT = "ProbeTest/1.0 (only this agent may listen)"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, stdin=subprocess.DEVNULL,
                   timeout=30)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Five seconds of tone as bare MP3 and ADTS AAC, a small HLS VOD, and a video-only MPEG-TS."""
    folder = tmp_path_factory.mktemp("media")
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=5"]
    ffmpeg(*tone, "-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3",
           str(folder / "tone.mp3"))
    ffmpeg(*tone, "-c:a", "aac", "-b:a", "128k", "-f", "adts", str(folder / "tone.aac"))
    (folder / "hls").mkdir()
    ffmpeg(*tone, "-c:a", "aac", "-b:a", "64k", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
           str(folder / "hls" / "live.m3u8"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=5", "-c:v", "mpeg2video", "-f", "mpegts",
           str(folder / "video.ts"))
    return {"mp3": folder / "tone.mp3", "aac": folder / "tone.aac", "hls": folder / "hls",
            "video": folder / "video.ts"}


class Radio:
    """A ThreadingHTTPServer on 127.0.0.1 playing a small radio station and its failure modes."""

    def __init__(self, media: dict[str, Path]) -> None:
        self.stopping = threading.Event()
        self.agents: list[str] = []
        radio, mp3, aac = self, media["mp3"].read_bytes(), media["aac"].read_bytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                radio.agents.append(self.headers.get("User-Agent", ""))
                path = self.path.split("?")[0]
                if path == "/live.mp3" or (path == "/agent-only" and self.headers.get("User-Agent") == AGENT):
                    self.play(mp3, "audio/mpeg")
                elif path == "/aac":
                    self.play(aac, "audio/aac")
                elif path in ("/forbidden", "/agent-only"):
                    self.send_error(403)
                elif path == "/broken":
                    self.send_error(500)
                elif path == "/page":
                    self.answer(200, "text/html; charset=utf-8", b"<!doctype html><title>Radio</title><p>Listen!")
                elif path == "/trickle":  # headers one byte at a time: every read succeeds, none ends
                    for byte in b"HTTP/1.0 200 OK\r\nX-Slow: " + b"z" * 100:
                        if radio.stopping.wait(0.2):
                            break
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                elif path == "/stall":
                    self.audio_headers("audio/mpeg", icy=False)
                    radio.stopping.wait(30)
                elif path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/live.mp3")
                    self.end_headers()
                elif path == "/loop":
                    self.send_response(302)
                    self.send_header("Location", "/loop")
                    self.end_headers()
                elif path == "/icy-status":  # an old SHOUTcast v1 server
                    self.wfile.write(b"ICY 200 OK\r\nicy-name:Old Timer\r\ncontent-type:audio/mpeg\r\n\r\n")
                    self.loop(mp3, icy=False)
                elif path == "/video.ts":
                    self.answer(200, "video/mp2t", media["video"].read_bytes())
                elif path.startswith("/hls/") and (media["hls"] / path[5:]).is_file():
                    kind = "application/vnd.apple.mpegurl" if path.endswith(".m3u8") else "video/mp2t"
                    self.answer(200, kind, (media["hls"] / path[5:]).read_bytes())
                else:
                    self.send_error(404)

            def answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def audio_headers(self, content_type: str, icy: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("icy-name", "Test Radio")
                self.send_header("icy-genre", "Jazz")
                self.send_header("icy-br", "128")
                if icy:
                    self.send_header("icy-metaint", str(METAINT))
                self.end_headers()

            def play(self, data: bytes, content_type: str) -> None:
                icy = self.headers.get("Icy-MetaData") == "1"
                self.audio_headers(content_type, icy)
                self.loop(data, icy, burst=0 if self.path.endswith("?burst=0") else BURST)

            def loop(self, data: bytes, icy: bool, burst: int = BURST) -> None:
                """Loop `data` at its bitrate after a burst, with a title block every METAINT audio bytes."""
                start, sent = time.monotonic(), 0
                try:
                    while not radio.stopping.is_set():
                        size = min(1600, METAINT - sent % METAINT) if icy else 1600
                        offset = sent % len(data)
                        chunk = (data[offset:] + data)[:size]
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        if icy and sent % METAINT == 0:
                            self.wfile.write(icy_block(TITLE))
                        ahead = (sent - burst) / BYTES_PER_SECOND - (time.monotonic() - start)
                        if ahead > 0:
                            radio.stopping.wait(ahead)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def radio(media: dict[str, Path]) -> Iterator[Radio]:
    station = Radio(media)
    yield station
    station.stop()


@pytest.fixture
def closed_port() -> int:
    """A port nobody listens on: bound, then closed again."""
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog does) but never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield sock.getsockname()[1]


# -- streams that work ---------------------------------------------------------------------------------------

def test_mp3_stream_with_icy_metadata(radio: Radio) -> None:
    result = probe(radio.base + "/live.mp3", timeout=5)
    assert result == ProbeResult(reachable=True, codec="mp3", bitrate_kbps=128, sample_rate=44100, channels=1,
                                 icy_name="Test Radio", icy_genre="Jazz", current_title=TITLE,
                                 content_type="audio/mpeg")
    assert result.as_json()["current_title"] == TITLE and result.as_json()["reason"] is None


def test_plain_http_look_reads_the_first_icy_block(radio: Radio) -> None:
    """The title must come from our own GET too, not only from ffprobe's tags."""
    answer = probe_module._http_answer(radio.base + "/live.mp3", 5, "x")
    assert (answer.title, answer.icy_name, answer.icy_genre, answer.icy_br) == (TITLE, "Test Radio", "Jazz", 128)


def test_icy_title_of_a_stream_without_burst(radio: Radio) -> None:
    """Real time: the first title comes after a second of audio, in many small reads."""
    started = time.monotonic()
    result = probe(radio.base + "/live.mp3?burst=0", timeout=5)
    assert result.reachable and result.current_title == TITLE and result.codec == "mp3", result
    assert time.monotonic() - started >= METAINT / BYTES_PER_SECOND


def test_aac_stream(radio: Radio) -> None:
    result = probe(radio.base + "/aac", timeout=5)
    assert result.reachable and result.reason is None
    assert (result.codec, result.sample_rate, result.channels) == ("aac", 44100, 1)
    assert result.content_type == "audio/aac" and result.icy_name == "Test Radio"
    assert result.bitrate_kbps and 100 <= result.bitrate_kbps <= 140


def test_redirect_is_followed(radio: Radio) -> None:
    result = probe(radio.base + "/redirect", timeout=5)
    assert result.reachable and result.codec == "mp3" and result.current_title == TITLE


def test_user_agent_is_sent_to_both_looks(radio: Radio) -> None:
    refused = probe(radio.base + "/agent-only", timeout=5)
    assert not refused.reachable and "HTTP 403" in refused.reason and "User-Agent" in refused.reason
    radio.agents.clear()
    allowed = probe(radio.base + "/agent-only", timeout=5, user_agent=AGENT)
    assert allowed.reachable and allowed.codec == "mp3", allowed
    assert radio.agents == [AGENT, AGENT]  # the plain GET, then ffprobe


def test_default_user_agent(radio: Radio) -> None:
    radio.agents.clear()
    assert probe(radio.base + "/live.mp3", timeout=5).reachable
    assert radio.agents == [recording.DEFAULT_USER_AGENT] * 2


def test_hls_playlist(radio: Radio) -> None:
    result = probe(radio.base + "/hls/live.m3u8", timeout=5)
    assert result.reachable and result.codec == "aac", result
    assert result.content_type == "application/vnd.apple.mpegurl"


def test_old_shoutcast_icy_status_line(radio: Radio) -> None:
    result = probe(radio.base + "/icy-status", timeout=5)
    assert result.reachable and result.codec == "mp3", result
    assert result.icy_name == "Old Timer"  # ffprobe's tags stand in for the headers http.client cannot read


# -- failures, each in words ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path, words", [
    ("/forbidden", ["refused access", "HTTP 403 Forbidden", "User-Agent"]),
    ("/missing", ["not found", "HTTP 404", "mount point"]),
    ("/broken", ["server error", "HTTP 500"]),
    ("/page", ["not an audio stream", "content-type text/html"]),
    ("/video.ts", ["no audio stream found"]),
    ("/loop", ["too many redirects"]),
])
def test_failure_reasons(radio: Radio, path: str, words: list[str]) -> None:
    result = probe(radio.base + path, timeout=5)
    assert not result.reachable and result.codec is None
    for word in words:
        assert word in result.reason, result.reason


def test_page_reports_its_content_type(radio: Radio) -> None:
    assert probe(radio.base + "/page", timeout=5).content_type == "text/html"


def test_connection_refused(closed_port: int) -> None:
    for url in (f"http://127.0.0.1:{closed_port}/live.mp3", f"rtmp://127.0.0.1:{closed_port}/live/show"):
        result = probe(url, timeout=3)
        assert not result.reachable
        assert f"connection refused by 127.0.0.1:{closed_port} (is the server running?)" in result.reason, url


def test_unknown_host() -> None:
    for url in ("http://nonexistent.invalid/x", "rtmp://nonexistent.invalid/live/x"):
        result = probe(url, timeout=3)
        assert not result.reachable and "could not resolve host 'nonexistent.invalid'" in result.reason, url


def test_stall_after_headers_is_bounded(radio: Radio) -> None:
    started = time.monotonic()
    result = probe(radio.base + "/stall", timeout=2)
    assert time.monotonic() - started < 8
    assert not result.reachable and "within 2 s" in result.reason and "no audio" in result.reason


def test_trickling_headers_are_bounded(radio: Radio) -> None:
    started = time.monotonic()
    result = probe(radio.base + "/trickle", timeout=1)
    assert time.monotonic() - started < 3
    assert not result.reachable and "no answer within 1 s" in result.reason


@pytest.mark.parametrize("scheme", ["http", "rtmp"])
def test_silent_server_is_bounded(silent_port: int, scheme: str) -> None:
    started = time.monotonic()
    result = probe(f"{scheme}://127.0.0.1:{silent_port}/live", timeout=1)
    assert time.monotonic() - started < 5
    assert not result.reachable and "no answer within 1 s" in result.reason


def test_tls_to_a_plain_http_port(radio: Radio) -> None:
    result = probe(radio.base.replace("http:", "https:") + "/live.mp3", timeout=3)
    assert not result.reachable and result.reason.startswith("TLS handshake failed: "), result.reason


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command to make a certificate")
def test_an_untrusted_certificate_is_a_warning_because_it_records(tmp_path: Path) -> None:
    """ffmpeg does not check stream certificates, so a self-signed station records: the test says so instead
    of calling it unreachable (it did, while recording worked)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    station = StreamServer(make_mp3(tmp_path / "tone.mp3"), tls=context)
    try:
        result = probe(station.url, timeout=3)
        recorded, _, _ = record(tmp_path / "session", station.url, 2)
    finally:
        station.stop()
    assert result.reachable and result.codec == "mp3", result.reason
    assert result.warning and "certificate is not trusted" in result.warning and "records anyway" in result.warning
    assert recorded.error is None and recorded.duration_seconds > 1.5, recorded.error


def test_bad_user_agent_is_a_reason_not_an_injection(radio: Radio) -> None:
    result = probe(radio.base + "/live.mp3", timeout=2, user_agent="x\r\nX-Evil: 1")
    assert not result.reachable and "User-Agent" in result.reason


def test_missing_ffprobe(radio: Radio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_module, "FFPROBE", "/nonexistent/ffprobe")
    result = probe(radio.base + "/live.mp3", timeout=3)
    assert not result.reachable and "ffprobe is not installed" in result.reason


def test_hanging_ffprobe_is_killed(closed_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "ffprobe"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setattr(probe_module, "FFPROBE", str(fake))
    started = time.monotonic()
    result = probe(f"rtmp://127.0.0.1:{closed_port}/live", timeout=0.5)
    assert time.monotonic() - started < 0.5 * 2 + 2 + 1
    assert not result.reachable and "no answer within 0.5 s" in result.reason


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "concat:a|b", "/etc/passwd", ""])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        probe(url)


# -- pieces --------------------------------------------------------------------------------------------------

def test_ffprobe_argv_is_bounded_and_network_only() -> None:
    argv = ffprobe_argv("http://127.0.0.1:1/x", 8.0, "Agent/1")
    assert argv[0] == "ffprobe" and argv[-2:] == ["-i", "http://127.0.0.1:1/x"]
    assert argv[argv.index("-protocol_whitelist") + 1] == PROTOCOL_WHITELIST
    assert argv[argv.index("-rw_timeout") + 1] == "8000000"
    assert argv[argv.index("-user_agent") + 1] == "Agent/1"
    assert "-user_agent" not in ffprobe_argv("http://127.0.0.1:1/x", 8.0)
    assert not {"file", "concat", "data", "subfile"} & set(PROTOCOL_WHITELIST.split(","))


@given(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=300).filter(lambda t: "';" not in t))
def test_stream_title_round_trip(title: str) -> None:
    block = icy_block(title)
    assert probe_module._stream_title(block[1:]) == (title.strip() or None)


def test_stream_title_in_latin1() -> None:
    assert probe_module._stream_title("StreamTitle='Mot\xf6rhead - Ace';".encode("latin-1")) == "Mot\xf6rhead - Ace"
