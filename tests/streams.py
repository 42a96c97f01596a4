"""A controllable stream server: loops an MP3 at its real bitrate over HTTP, like an Icecast mount."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BITRATE = 128_000


def make_mp3(path: Path, seconds: int = 10, frequency: int = 440) -> Path:
    """A sine tone as a bare MP3 (no Xing/ID3 header, so looping it makes a continuous stream)."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={frequency}:sample_rate=44100:duration={seconds}", "-c:a", "libmp3lame",
                    "-b:a", "128k", "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3", str(path)], check=True)
    return path


class StreamServer:
    """Serves /live.mp3 forever (throttled to 128 kbit/s) until stopped; /missing answers 404."""

    def __init__(self, mp3: Path) -> None:
        data = mp3.read_bytes()
        chunk = BITRATE // 8 // 10  # a tenth of a second

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/live.mp3":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("icy-name", "Test Radio")
                self.end_headers()
                start, sent = time.monotonic(), 0
                try:
                    while not server.stopping:
                        offset = sent % len(data)
                        self.wfile.write(data[offset:offset + chunk])
                        sent += min(chunk, len(data) - offset)
                        ahead = sent / (BITRATE / 8) - (time.monotonic() - start)
                        if ahead > 0:
                            time.sleep(ahead)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        server = self
        self.stopping = False
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/live.mp3"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True
        self.httpd.shutdown()
        self.httpd.server_close()
