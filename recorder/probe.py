"""Testing a stream URL before the show airs: does it answer, is it audio, which codec, what is the station called.

Two looks, each bounded by `timeout`: a plain HTTP GET (status, content type, ICY name/genre and the first
`StreamTitle`, http/https only), then ffprobe (codec, bitrate, sample rate, channels). Network trouble always
comes back as a `ProbeResult` whose `reason` a radio hobbyist can act on; only a URL of the wrong kind raises.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, replace
from http import HTTPStatus
from typing import Any, Callable, TypeVar
from urllib.parse import quote, unquote, urljoin, urlsplit

# ffprobe may open what the capture may open (never file, concat, data, subfile) and says who it is the same way.
from .recording import DEFAULT_USER_AGENT, PROTOCOL_WHITELIST

__all__ = ["PROTOCOL_WHITELIST", "ProbeResult", "ffprobe_argv", "probe"]

FFPROBE = "ffprobe"
SCHEMES = ("http", "https", "rtmp", "rtmps")
DEFAULT_PORTS = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443}
MAX_REDIRECTS = 5
MAX_BODY_BYTES = 256 * 1024  # audio up to the first ICY block (plus the block); stations use metaint 8-32 KB
NOT_AUDIO_TYPES = ("text/", "application/json", "application/xml", "application/xhtml", "image/")
PLAYLIST_TYPES = ("audio/x-scpls", "application/pls+xml", "application/xspf+xml")
SERVER_HINT = "the station's server has a problem; try again later"
PLAYLIST_HINT = "if the address is a .pls or .m3u playlist, open it and use the stream URL inside"
TLS_WORDS = ("tls", "ssl", "gnutls", "certificate")
_TITLE = re.compile(rb"StreamTitle='(.*?)';", re.DOTALL)
_T = TypeVar("_T")


@dataclass(frozen=True)
class ProbeResult:
    """What the stream test found. `reachable` means "a recordable audio stream answered"."""

    reachable: bool
    reason: str | None = None
    codec: str | None = None
    bitrate_kbps: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    icy_name: str | None = None
    icy_genre: str | None = None
    current_title: str | None = None
    content_type: str | None = None
    warning: str | None = None  # it records, but something deserves a look (an untrusted TLS certificate)

    def as_json(self) -> dict[str, object]:
        """A plain dict for the API answer."""
        return asdict(self)


class ProbeFailed(Exception):
    """A look that ended early; the message is the sentence shown to the user."""


class _Untrusted(Exception):
    """The station's TLS certificate did not verify; the message says why."""


@dataclass(frozen=True)
class _Answer:
    """What the plain HTTP GET learned (after redirects, `url` is where the stream really is)."""

    url: str
    content_type: str | None = None
    icy_name: str | None = None
    icy_genre: str | None = None
    icy_br: int | None = None
    title: str | None = None
    warning: str | None = None


def probe(url: str, timeout: float = 8.0, user_agent: str | None = None) -> ProbeResult:
    """Check a stream URL within about `timeout * 2 + 2` seconds; say what it is, or why it will not record."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"cannot test a {scheme or 'scheme-less'} URL: only http, https, rtmp and rtmps streams")
    answer, agent = _Answer(url), user_agent
    try:
        if user_agent is not None and re.search(r"[\x00-\x1f\x7f]", user_agent):
            raise ProbeFailed("the User-Agent setting contains a line break or control character; remove it")
        if scheme in ("http", "https"):
            agent = user_agent or DEFAULT_USER_AGENT  # both looks send it, as the capture sends one too
            answer = _bounded(lambda: _http_answer(url, timeout, agent), timeout)
            if reason := _not_audio(answer.content_type):
                return ProbeResult(False, reason=reason, content_type=answer.content_type)
        return _result(answer, _ffprobe(answer.url, timeout, agent))
    except ProbeFailed as failure:
        return ProbeResult(False, reason=str(failure), content_type=answer.content_type)


def ffprobe_argv(url: str, timeout: float, user_agent: str | None = None) -> list[str]:
    """The ffprobe command: JSON out, only network protocols, every read bounded by `timeout`."""
    agent = ["-user_agent", user_agent] if user_agent else []
    return [FFPROBE, "-hide_banner", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
            "-protocol_whitelist", PROTOCOL_WHITELIST, "-rw_timeout", str(int(timeout * 1_000_000)), *agent,
            "-i", url]


# -- the plain HTTP look -------------------------------------------------------------------------------------

def _bounded(work: Callable[[], _T], seconds: float) -> _T:
    """Run `work` in a helper thread so nothing (not even a hanging DNS lookup) holds the caller past `seconds`."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as error:  # handed to the caller below
            outcome.append((False, error))

    thread = threading.Thread(target=run, name="stream-probe", daemon=True)
    thread.start()
    thread.join(seconds + 0.25)  # the socket deadlines inside fire first, with a more precise sentence
    if not outcome:
        raise ProbeFailed(f"no answer within {seconds:g} s")
    ok, value = outcome[0]
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


def _http_answer(url: str, timeout: float, agent: str) -> _Answer:
    """GET the URL, following up to MAX_REDIRECTS redirects to http/https, and read what the station says."""
    deadline = time.monotonic() + timeout
    warning = None
    for _ in range(MAX_REDIRECTS + 1):
        try:
            sent = _request(url, agent, deadline, timeout, verify=warning is None)
        except _Untrusted as untrusted:
            # ffmpeg does not check stream certificates (tls_verify is off), so such a station records: say so
            warning = (f"the station's TLS certificate is not trusted ({untrusted}); it records anyway (stream "
                       "certificates are not checked), but make sure the address is the station's")
            sent = _request(url, agent, deadline, timeout, verify=False)
        if sent is None:  # an old SHOUTcast server answering `ICY 200 OK`: ffprobe understands it, http.client not
            return _Answer(url, warning=warning)
        connection, sock, response = sent
        try:
            if response.status in (301, 302, 303, 307, 308):
                url = _redirect_target(url, response.getheader("Location"))
                continue
            if not 200 <= response.status < 300:
                raise ProbeFailed(_status_reason(response.status, response.reason))
            return replace(_read_answer(url, response, sock, deadline, timeout), warning=warning)
        finally:
            response.close()
            connection.close()
    raise ProbeFailed(f"too many redirects (more than {MAX_REDIRECTS}); the address goes round in circles")


_Sent = tuple[http.client.HTTPConnection, socket.socket, http.client.HTTPResponse]


def _request(url: str, agent: str, deadline: float, timeout: float, verify: bool = True) -> _Sent | None:
    """Send the GET and read the status line and headers (the socket is kept to bound the body reads)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", _port(url)
    if not host:
        raise ProbeFailed("the address has no host name")
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = (http.client.HTTPSConnection(host, port, timeout=_remaining(deadline, timeout), context=context)
                  if parts.scheme == "https" else
                  http.client.HTTPConnection(host, port, timeout=_remaining(deadline, timeout)))
    headers = {"User-Agent": agent, "Icy-MetaData": "1", "Accept": "*/*"}
    if parts.username:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    try:
        connection.request("GET", _target(parts.path, parts.query), headers=headers)
        sock = connection.sock  # getresponse() may drop the connection's reference; the response keeps reading it
        sock.settimeout(_remaining(deadline, timeout))
        return connection, sock, connection.getresponse()
    except BaseException as error:
        connection.close()
        if isinstance(error, http.client.BadStatusLine) and str(error.line).startswith("ICY "):
            return None
        if isinstance(error, ssl.SSLCertVerificationError):
            raise _Untrusted(error.verify_message) from None
        if isinstance(error, (OSError, http.client.HTTPException)):
            raise ProbeFailed(_explain(error, host, port, timeout)) from None
        raise


def _read_answer(url: str, response: http.client.HTTPResponse, sock: socket.socket, deadline: float,
                 timeout: float) -> _Answer:
    """Read the station's headers and, for an audio stream, audio up to the first ICY title."""
    content_type = (_header(response, "Content-Type") or "").split(";")[0].strip().lower() or None
    answer = _Answer(url, content_type, _header(response, "icy-name"), _header(response, "icy-genre"),
                     _int(_header(response, "icy-br")))
    if _not_audio(content_type) or _is_hls(url, content_type):
        return answer  # probe() explains what it is instead; a playlist is ffprobe's to follow
    metaint = _int(response.getheader("icy-metaint")) or 0
    with_title = 0 < metaint and metaint + 1 + 255 * 16 <= MAX_BODY_BYTES
    audio, timed_out = _read_up_to(response, sock, metaint + 1 if with_title else 1, deadline)
    if not audio:
        raise ProbeFailed(f"no audio within {timeout:g} s: the server answered, then sent nothing" if timed_out
                          else "the server answered, then closed the connection before sending any audio")
    if not with_title or len(audio) < metaint + 1:
        return answer
    block, _ = _read_up_to(response, sock, audio[-1] * 16, deadline)
    return replace(answer, title=_stream_title(block))


def _read_up_to(response: http.client.HTTPResponse, sock: socket.socket, size: int, deadline: float
                ) -> tuple[bytes, bool]:
    """Read up to `size` body bytes; stop early at the end of the body, an error or the deadline (-> True)."""
    data = bytearray()
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(data), True
        try:
            sock.settimeout(remaining)
            chunk = response.read1(min(size - len(data), 64 * 1024))
        except TimeoutError:
            return bytes(data), True
        except (OSError, http.client.HTTPException):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data), False


def _stream_title(block: bytes) -> str | None:
    """The `StreamTitle='...';` of an ICY metadata block (UTF-8, or Latin-1 from older encoders)."""
    match = _TITLE.search(block)
    if not match:
        return None
    try:
        title = match.group(1).decode("utf-8")
    except UnicodeDecodeError:
        title = match.group(1).decode("latin-1")
    return title.strip() or None


def _redirect_target(url: str, location: str | None) -> str:
    if not location:
        raise ProbeFailed("the server sent a redirect without saying where to (no Location header)")
    target = urljoin(url, location.strip())
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise ProbeFailed(f"the server redirects to {target!r}, which is not an http or https address")
    return target


def _target(path: str, query: str) -> str:
    """The request target, with anything not allowed in a URL (spaces, accents) percent-encoded."""
    safe = "/%!$&'()*+,;=:@~-._"
    return quote(path or "/", safe=safe) + (f"?{quote(query, safe=safe + '?')}" if query else "")


def _header(response: http.client.HTTPResponse, name: str) -> str | None:
    """A header value; station names are often UTF-8 although HTTP headers are read as Latin-1."""
    value = (response.getheader(name) or "").strip()
    try:
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return value or None


def _remaining(deadline: float, timeout: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ProbeFailed(f"no answer within {timeout:g} s")
    return remaining


# -- reasons -------------------------------------------------------------------------------------------------

def _not_audio(content_type: str | None) -> str | None:
    """Why a content type cannot be a stream, or None when it may be (no type at all: ffprobe decides)."""
    if content_type is None:
        return None
    if content_type.startswith(PLAYLIST_TYPES):
        return f"not an audio stream but a playlist (content-type {content_type}); {PLAYLIST_HINT}"
    if content_type.startswith(NOT_AUDIO_TYPES):
        return f"not an audio stream (content-type {content_type}); check that the URL is the stream, not a web page"
    return None


def _is_hls(url: str, content_type: str | None) -> bool:
    return "mpegurl" in (content_type or "") or urlsplit(url).path.lower().endswith(".m3u8")


def _status_reason(status: int, phrase: str | None = None) -> str:
    """An HTTP error status in words, with what to try next."""
    try:
        phrase = (phrase or "").strip() or HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    code = f"HTTP {status} {phrase}".strip()
    if status == 401:
        return f"the server wants a user name and password ({code}); put them in the URL: http://user:pass@host/..."
    if status == 403:
        return f"the server refused access ({code}); some stations need a different User-Agent"
    if status == 404:
        return "not found (HTTP 404): check the mount point / path"
    if 500 <= status < 600:
        return f"server error ({code}): {SERVER_HINT}"
    return f"unexpected answer from the server ({code})"


def _explain(error: BaseException, host: str, port: int, timeout: float) -> str:
    """A connection-level error in words."""
    if isinstance(error, socket.gaierror):
        return f"could not resolve host '{host}': check the spelling of the address"
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused by {host}:{port} (is the server running?)"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ssl.SSLError):
        text = re.sub(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(error))
        hint = " (is it really https? try http://)" if "WRONG_VERSION_NUMBER" in str(error) else ""
        return f"TLS handshake failed: {text}{hint}"
    if isinstance(error, (ConnectionResetError, http.client.RemoteDisconnected)):
        return f"{host}:{port} closed the connection without answering"
    if isinstance(error, http.client.HTTPException):
        return f"{host}:{port} did not answer like an HTTP server ({type(error).__name__})"
    if isinstance(error, OSError):
        return f"could not connect to {host}:{port}: {error.strerror or error}"
    return f"could not reach {host}:{port}: {error}"


def _port(url: str) -> int:
    parts = urlsplit(url)
    try:
        return parts.port or DEFAULT_PORTS[parts.scheme.lower()]
    except ValueError:
        raise ProbeFailed("the address has an invalid port number") from None


# -- ffprobe -------------------------------------------------------------------------------------------------

def _ffprobe(url: str, timeout: float, user_agent: str | None) -> dict[str, Any]:
    """Run ffprobe on the stream and return its JSON, which has at least one audio stream."""
    try:
        done = subprocess.run(ffprobe_argv(url, timeout, user_agent), stdin=subprocess.DEVNULL, capture_output=True,
                              encoding="utf-8", errors="replace", timeout=timeout + 2)
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"no answer within {timeout:g} s") from None
    except FileNotFoundError:
        raise ProbeFailed("ffprobe is not installed on this machine, so the stream could not be tested") from None
    if done.returncode != 0:
        raise ProbeFailed(_ffprobe_reason(done.stderr, url, timeout))
    try:
        found = json.loads(done.stdout)
    except ValueError:
        raise ProbeFailed("ffprobe gave an answer that could not be read") from None
    if not any(stream.get("codec_type") == "audio" for stream in found.get("streams", [])):
        raise ProbeFailed("no audio stream found: the server sends data, but there is no audio in it")
    return found


def _ffprobe_reason(stderr: str, url: str, timeout: float) -> str:
    """ffprobe's error output in words (URL and host blanked first, so a host name cannot match a pattern)."""
    host, port = urlsplit(url).hostname or "", _port(url)
    lines = [re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", line).replace(url, "").lstrip(": ")
             for line in stderr.strip().splitlines()]
    text = "\n".join(lines).replace(host or "\0", "HOST").lower()
    status = re.search(r"server returned (\d{3})", text)
    if "failed to resolve hostname" in text or "name or service not known" in text:
        return _explain(socket.gaierror(), host, port, timeout)
    if "connection refused" in text:
        return _explain(ConnectionRefusedError(), host, port, timeout)
    if "timed out" in text:
        return _explain(TimeoutError(), host, port, timeout)
    if status:
        return _status_reason(int(status[1]))
    if "server returned 5xx" in text:
        return f"server error (HTTP 5xx): {SERVER_HINT}"
    if "invalid data found" in text:
        return f"not an audio stream ffprobe can read (invalid data); {PLAYLIST_HINT}"
    if "not on whitelist" in text:
        return f"the stream points to something that is not allowed ({_pick(lines, 'whitelist')})"
    if any(word in text for word in TLS_WORDS):
        return f"TLS handshake failed: {_pick(lines, *TLS_WORDS)}"
    return f"ffprobe could not read the stream: {'; '.join(dict.fromkeys(lines)) or 'no error message'}"


def _pick(lines: list[str], *words: str) -> str:
    """The first line mentioning one of `words` (ffprobe's own wording), without its trailing full stop."""
    return next((line for line in lines if any(word in line.lower() for word in words)), lines[-1]).rstrip(".")


# -- the answer ----------------------------------------------------------------------------------------------

def _result(answer: _Answer, found: dict[str, Any]) -> ProbeResult:
    """Merge the two looks: ffprobe knows the codec; the HTTP look knows the ICY headers (ffprobe's tags back it up)."""
    stream = next(s for s in found["streams"] if s.get("codec_type") == "audio")
    form = found.get("format") or {}
    tags = {key.lower(): value for key, value in (form.get("tags") or {}).items()}
    variant = (stream.get("tags") or {}).get("variant_bitrate")  # an HLS master playlist's BANDWIDTH
    return ProbeResult(
        reachable=True,
        codec=stream.get("codec_name"),
        bitrate_kbps=(_kbps(stream.get("bit_rate")) or answer.icy_br or _int(tags.get("icy-br")) or _kbps(variant)),
        sample_rate=_int(stream.get("sample_rate")),
        channels=_int(stream.get("channels")),
        icy_name=answer.icy_name or tags.get("icy-name") or None,
        icy_genre=answer.icy_genre or tags.get("icy-genre") or None,
        current_title=answer.title or (tags.get("streamtitle") or "").strip() or None,
        content_type=answer.content_type,
        warning=answer.warning,
    )


def _kbps(value: object) -> int | None:
    return round(bits / 1000) if (bits := _int(value)) and bits >= 1000 else None


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None
