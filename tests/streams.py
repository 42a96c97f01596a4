"""A controllable stream server: loops an MP3 at its real bitrate over HTTP, like an Icecast mount.

It sends ICY metadata to listeners that ask for it, and a test can change the title, drop every connection,
make new connections fail with an HTTP status, stall (keep the connection open but send nothing), or replay a
backlog on connect (Icecast's burst-on-connect).
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BITRATE = 128_000
METAINT = 8192


def make_mp3(path: Path, seconds: int = 10, frequency: int = 440) -> Path:
    """A sine tone as a bare MP3 (no Xing/ID3 header, so looping it makes a continuous stream)."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={frequency}:sample_rate=44100:duration={seconds}", "-c:a", "libmp3lame",
                    "-b:a", "128k", "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3", str(path)], check=True)
    return path


def make_adts_joined_mid_frame(path: Path, seconds: int = 10) -> Path:
    """ADTS AAC as a listener joining mid-stream may get it: it starts with bytes that look like a frame header
    (sync word, a length) but are not one, the way Icecast's burst can begin inside a frame."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-c:a", "aac", "-b:a", "96k",
                    "-f", "adts", str(path)], check=True)
    false_header = bytes([0xFF, 0xF1, 0x7C, 0x40, 0x08, 0xDF, 0xFC]) + bytes(range(63))  # sample rate index 15
    path.write_bytes(b"\x12\x34" + false_header + path.read_bytes())
    return path


def icy_block(title: str) -> bytes:
    text = f"StreamTitle='{title}';".encode()
    padded = text + b"\0" * (-len(text) % 16)
    return bytes([len(padded) // 16]) + padded


class StreamServer:
    """Serves /live.mp3 (throttled to 128 kbit/s) until stopped; other paths answer 404."""

    def __init__(self, mp3: Path, content_type: str = "audio/mpeg", tls: ssl.SSLContext | None = None) -> None:
        self.data = mp3.read_bytes()
        self.content_type = content_type
        self.title = "Artist - First Song"
        self.fail_status: int | None = None
        self.stalled = False
        self.burst_seconds = 0.0
        self.stopping = False
        self.generation = 0  # bumping it drops every open connection
        self.connections = 0
        self.listeners_at: list[float] = []  # time.monotonic() of each player's request (ffmpeg asks for ICY)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                server.connections += 1
                if self.headers.get("Icy-MetaData") == "1":
                    server.listeners_at.append(time.monotonic())
                if self.path != "/live.mp3":
                    self.send_error(404)
                    return
                if server.fail_status:
                    self.send_error(server.fail_status)
                    return
                icy = self.headers.get("Icy-MetaData") == "1"
                self.send_response(200)
                self.send_header("Content-Type", server.content_type)
                self.send_header("icy-name", "Test Radio")
                if icy:
                    self.send_header("icy-metaint", str(METAINT))
                self.end_headers()
                try:
                    server._stream(self.wfile, icy)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:  # a station behind HTTPS (handshakes happen as connections are accepted)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}/live.mp3"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _stream(self, out: object, icy: bool) -> None:
        generation = self.generation
        rate = BITRATE / 8
        chunk = int(rate / 20)
        start = time.monotonic() - self.burst_seconds  # a backlog goes out at once, then real time
        sent = since_meta = 0
        while not self.stopping and generation == self.generation:
            if self.stalled:
                time.sleep(0.05)
                start += 0.05
                continue
            size = min(chunk, METAINT - since_meta) if icy else chunk
            offset = sent % len(self.data)
            piece = self.data[offset:offset + size]
            out.write(piece)  # type: ignore[attr-defined]
            sent += len(piece)
            since_meta += len(piece)
            if icy and since_meta == METAINT:
                out.write(icy_block(self.title))  # type: ignore[attr-defined]
                since_meta = 0
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)

    def drop_all(self) -> None:
        self.generation += 1

    def stop(self) -> None:
        self.stopping = True
        self.httpd.shutdown()
        self.httpd.server_close()
