"""The OpenAPI document is the API's contract: it lists exactly the app's routes, and a live server keeps it.

The fuzz test runs schemathesis (its CLI, in a subprocess) against a real `serve` on 127.0.0.1 that cannot record:
its MIN_FREE_SPACE_MB is more than any disk has, so a capture stops at its first check, before it contacts the
stream (neither the Content-Type look nor ffmpeg runs), even when a fuzzed schedule fires during the run.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from recorder import __version__, settings, validation
from recorder.bootstrap import open_service
from recorder.web.app import build_app
from recorder.web.openapi import SCHEDULE_FIELDS, STREAM_FIELDS, document

from conftest import PASSWORD, Server, start_server

# HTML pages and their files: not part of the API, so not in the document.
PAGES = {("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/streams"),
         ("GET", "/schedules"), ("GET", "/sessions"), ("GET", "/logs"), ("GET", "/system"), ("GET", "/backup"),
         ("GET", "/static/{name}")}
# Operations that make the server talk to other hosts; tests/test_api.py, test_probe.py and the delivery tests
# cover them against local servers. (retry_transfer uploads too, but only a session whose upload failed, and
# no session of the fuzz server ever gets that far: it cannot record.)
NOT_FUZZED = {"record_now": "records from the stream's URL", "test_stream": "connects to the stream's URL",
              "test_destination": "logs in to the stream's SFTP destination",
              "trust": "fetches the host key of the host in the body"}
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "unsupported_method", "ignored_auth",
          "use_after_free")
# Not checked: negative_data_rejection and positive_data_acceptance (whether a value is valid depends on what
# a schema cannot say: cron syntax, existing stream ids, archive contents), ensure_resource_availability (it
# infers that a new stream must have artwork at GET .../artwork, which only exists after an upload).
MAX_EXAMPLES = 50
# One worker: with two threads, hypothesis's ast.parse of lambda sources meets CPython 3.11's gh-106905
# ("AST constructor recursion depth mismatch"), a runtime error of the tool, not of the server.
WORKERS = 1
FUZZ_TIMEOUT = 110  # seconds; the run takes about 15 on two cores
SEED = os.environ.get("OPENAPI_FUZZ_SEED", "20261125")
BAD_PART = b'--b\r\nContent-Disposition: form-data; name="a\x00b"\r\n\r\nx\r\n--b--\r\n'  # bottle raises


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], str]]:
    """(method, OpenAPI path) -> route function name, from the app `serve` builds (nothing is started).

    Plain data: bottle's Route.__repr__ never returns for our wrapped routes, and pytest shows a failing test's
    arguments."""
    state = tmp_path_factory.mktemp("routes") / "state"
    service, _ = open_service(settings.load({"STATE_DIR": str(state), "ADMIN_PASSWORD": PASSWORD}))
    try:
        yield {(route.method, template(route.rule)): route.callback.__name__
               for route in build_app(service.context).routes}
    finally:
        service.close()


def template(rule: str) -> str:
    """A Bottle rule (`/api/streams/<stream_id:int>`) as an OpenAPI path (`/api/streams/{stream_id}`)."""
    return re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", rule)


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): operation for path, item in doc["paths"].items()
            for method, operation in item.items() if method != "parameters"}


def test_document_lists_exactly_the_api_routes(routes: dict[tuple[str, str], str]) -> None:
    in_app = set(routes)
    assert PAGES <= in_app, f"pages listed here but gone from the app: {sorted(PAGES - in_app)}"
    api, documented = in_app - PAGES, set(operations(document()))
    assert api == documented, (f"routes missing from the document: {sorted(api - documented)}; documented "
                               f"operations the app does not have: {sorted(documented - api)}")


def test_operation_ids_name_the_route_functions(routes: dict[tuple[str, str], str]) -> None:
    wrong = {key: (operation["operationId"], routes.get(key)) for key, operation in operations(document()).items()
             if operation["operationId"] != routes.get(key)}
    assert not wrong, f"operationId differs from the route function: {wrong}"
    assert set(NOT_FUZZED) <= {operation["operationId"] for operation in operations(document()).values()}


def test_path_parameters_match_the_path() -> None:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            declared = {p["name"] for p in [*item.get("parameters", []), *operation.get("parameters", [])]
                        if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), f"{method.upper()} {path}"


def test_request_fields_are_the_command_layers() -> None:
    """Same fields as the validators: a field added there must be documented (and vice versa)."""
    assert set(STREAM_FIELDS) == set(validation.STREAM_FIELDS)
    assert set(SCHEDULE_FIELDS) == set(validation.SCHEDULE_FIELDS)
    schemas = document()["components"]["schemas"]
    assert schemas["StreamCreate"]["required"] == ["name", "url"]
    assert set(schemas["ScheduleCreate"]["required"]) == {"stream_id", "cron", "duration_minutes"}


def test_served_document_needs_login_and_carries_the_version(api: requests.Session, server: Server) -> None:
    assert requests.get(server.url + "/api/openapi.json", timeout=5).status_code == 401
    response = api.get(server.url + "/api/openapi.json", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["openapi"].startswith("3.1") and body["info"]["version"] == __version__
    assert body == document()


@pytest.mark.parametrize("query", ["/api/sessions?offset=" + "9" * 5000, "/api/sessions?offset=" + "9" * 19,
                                   "/api/sessions?limit=%B9", "/api/events?before=%B2",
                                   "/api/events?stream_id=" + "9" * 5000, "/api/logs?after=%B3"])
def test_odd_whole_numbers_in_a_query_are_refused(api: requests.Session, server: Server, query: str) -> None:
    """Found while writing the document: '²' passed str.isdigit, 5000 digits broke int(), 19 the JSON answer."""
    response = api.get(server.url + query, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["field"] in ("limit", "before", "stream_id", "after")


def test_a_field_name_json_cannot_carry_is_named_escaped(api: requests.Session, server: Server) -> None:
    """Found while writing the document: an unknown field `\\ud800` (a lone surrogate) broke the error answer."""
    response = api.post(server.url + "/api/streams", data=b'{"\\ud800": 1}',
                        headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["field"] == "\\ud800"


@pytest.mark.parametrize("path", ["/api/backup/upload", "/api/streams/{stream_id}/artwork"])
def test_an_unreadable_multipart_part_is_refused(api: requests.Session, server: Server, path: str) -> None:
    """Found by the fuzz: a NUL (or CR, LF) in a part's header made bottle's parser raise (a 500)."""
    stream_id = api.post(server.url + "/api/streams", json={"name": f"Parts {path}", "url": "http://127.0.0.1:9/"},
                         timeout=5).json()["id"]
    response = api.post(server.url + path.format(stream_id=stream_id), data=BAD_PART, timeout=5,
                        headers={"Content-Type": "multipart/form-data; boundary=b", "X-Requested-With": "test"})
    assert response.status_code == 400, response.text
    assert "multipart body cannot be read" in response.json()["error"]


def test_header_bytes_that_are_not_utf8_are_read_not_crashed(api: requests.Session, server: Server) -> None:
    """bottle's get_header decodes UTF-8 and raised for 'é' sent as latin-1, before any login was checked."""
    anonymous = requests.get(server.url + "/api/streams", headers={"Authorization": "Basic é"}, timeout=5)
    assert anonymous.status_code == 401
    upload = api.post(server.url + "/api/backup/upload", headers={"X-Requested-With": "é"}, timeout=5,
                      files={"backup": ("x.tar.gz", b"not an archive")})
    assert upload.status_code == 400 and upload.json()["field"] == "backup"


def test_odd_csrf_tokens_are_refused_not_crashed(server: Server) -> None:
    """A non-ASCII token broke hmac.compare_digest (str takes ASCII only); an unreadable form has no token."""
    session = requests.Session()
    token = re.search(r'name="form_token" value="([^"]+)"', session.get(server.url + "/login", timeout=5).text)[1]
    assert session.post(server.url + "/login", data={"username": "admin", "password": PASSWORD, "form_token": token},
                        allow_redirects=False, timeout=10).status_code == 303
    for headers, data in (({"X-CSRF-Token": "é"}, None),
                          ({"Content-Type": "multipart/form-data; boundary=b", "X-Requested-With": "t"}, BAD_PART)):
        response = session.post(server.url + "/api/backup/create", headers=headers, data=data, timeout=5)
        assert response.status_code == 403, response.text


@pytest.mark.parametrize("url", ["http://[:]/", "http://a]b/", "http://a\uff03b@c/"])
def test_unreadable_url_host_is_refused(api: requests.Session, server: Server, url: str) -> None:
    response = api.post(server.url + "/api/streams", json={"name": "Unreadable host", "url": url}, timeout=5)
    assert response.status_code == 400 and response.json()["field"] == "url"


def test_odd_logins_are_refused_not_crashed(server: Server) -> None:
    assert requests.get(server.url + "/api/streams", auth=("ädmin", PASSWORD), timeout=5).status_code == 401
    login = requests.post(server.url + "/login", headers={"Content-Type": "multipart/form-data; boundary=b"},
                          data=BAD_PART, allow_redirects=False, timeout=5)
    assert login.status_code == 401 and "form expired" in login.text


NO_DISK_IS_THAT_FREE = str(10**7)  # MB, the largest MIN_FREE_SPACE_MB takes: every capture stops at once


def assert_cannot_record(api: requests.Session, server: Server) -> None:
    """The guard works: recording from a listening stream URL stops for disk space and never connects to it."""
    with socket.socket() as station:
        station.bind(("127.0.0.1", 0))
        station.listen()
        url = f"http://127.0.0.1:{station.getsockname()[1]}/live.mp3"
        stream = api.post(server.url + "/api/streams", json={"name": "Guard", "url": url}, timeout=5).json()
        session_id = api.post(f"{server.url}/api/streams/{stream['id']}/record", json={"duration_seconds": 3},
                              timeout=5).json()["session_id"]
        deadline = time.monotonic() + 20
        while (session := api.get(f"{server.url}/api/sessions/{session_id}", timeout=5).json())["status"] in (
                "scheduled", "queued", "recording") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "Disk space warning" in (session["error"] or ""), str(session)
        station.setblocking(False)
        with pytest.raises(BlockingIOError):  # nobody knocked
            station.accept()


def schemathesis_argv(schema: Path, url: str) -> list[str]:
    excluded = [option for operation_id in NOT_FUZZED for option in ("--exclude-operation-id", operation_id)]
    return [str(Path(sys.executable).parent / "schemathesis"), "run", str(schema), "--url", url,
            "--auth", f"admin:{PASSWORD}", "--checks", ",".join(CHECKS), *excluded,
            "--max-examples", str(MAX_EXAMPLES), "--seed", SEED, "--workers", str(WORKERS), "--max-redirects", "0",
            "--request-timeout", "10", "--generation-database", "none", "--no-color"]


def test_fuzzing_a_live_server_finds_no_server_error_and_no_schema_break(tmp_path: Path) -> None:
    server = start_server(tmp_path / "state", MIN_FREE_SPACE_MB=NO_DISK_IS_THAT_FREE)
    try:
        api = server.client()
        assert_cannot_record(api, server)
        schema = tmp_path / "openapi.json"
        schema.write_bytes(api.get(server.url + "/api/openapi.json", timeout=5).content)
        env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}  # loopback only
        started = time.monotonic()
        result = subprocess.run(schemathesis_argv(schema, server.url), cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=FUZZ_TIMEOUT)
        summary = result.stdout[result.stdout.rfind("SUMMARY"):]
        print(f"schemathesis took {time.monotonic() - started:.1f} s (seed {SEED}):\n{summary}")
        assert result.returncode == 0, f"{result.stdout[-30000:]}\n{result.stderr[-3000:]}"
        assert "internal error on" not in server.log(), server.log()[-5000:]
        assert server.process.poll() is None
    finally:
        server.stop()
