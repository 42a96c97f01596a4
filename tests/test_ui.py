"""The web UI in real headless Chromium (Debian's, driven by Playwright) against a real `serve` process."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import PASSWORD, REPO, Server, start_server
from test_api import png_bytes

SHOTS = REPO / "test-output" / "ui"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("ui") / "state")
    yield server
    server.stop()


def log_in(page: Page, server: Server, path: str = "/") -> None:
    page.goto(server.url + path)
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(SIZES["desktop"])


def test_the_journey_from_login_to_a_finished_recording(browser: Browser, ui_server: Server, stream: str,
                                                         tmp_path: Path) -> None:
    page = browser.new_page(viewport=SIZES["desktop"])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A 400 answer to the bad URL typed below is expected; Chromium logs it as "Failed to load resource".
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "status of 400" not in message.text else None)
    log_in(page, ui_server)
    expect(page.locator("h1")).to_have_text("Dashboard")
    shoot(page, "dashboard-empty")

    # A stream with artwork.
    page.click("text=Streams")
    page.click("text=Add stream")
    page.fill('#stream-form input[name="name"]', "Loop FM")
    page.fill('#stream-form input[name="url"]', "file:///etc/passwd")
    page.click('#stream-form button[type="submit"]')
    expect(page.locator('#stream-form [data-error-for="url"]')).to_contain_text("must start with")
    expect(page.locator('#stream-form input[name="name"]')).to_have_value("Loop FM"), "the form keeps the input"
    page.fill('#stream-form input[name="url"]', stream)
    page.fill('#stream-form input[name="artist"]', "The DJ")
    page.click('#stream-form button[type="submit"]')
    card = page.locator("article.stream", has_text="Loop FM")
    expect(card).to_be_visible()
    artwork = tmp_path / "cover.png"
    artwork.write_bytes(png_bytes())
    card.locator('input[type="file"]').set_input_files(str(artwork))
    expect(page.locator("article.stream img")).to_have_attribute("src", re.compile(r"/api/streams/\d+/artwork"),
                                                              timeout=10_000)
    card = page.locator("article.stream", has_text="Loop FM")
    card.locator("button", has_text="Test").first.click()
    expect(card.locator("[data-result]")).to_contain_text("Reachable", timeout=20_000)
    expect(card.locator("[data-result]")).to_contain_text("mp3")
    shoot(page, "streams")

    # A schedule, with the cron explained as it is typed.
    page.click("text=Schedules")
    page.click("text=Add schedule")
    cron = page.locator('#schedule-form input[name="cron"]')
    cron.fill("30 14 * * 0")
    preview = page.locator("#cron-preview")
    expect(preview).to_contain_text("Sundays at 14:30")
    expect(preview.locator("li")).to_have_count(5)
    expect(preview.locator("li").first).to_contain_text("Sun")
    cron.fill("61 * * * *")
    expect(page.locator('#schedule-form [data-error-for="cron"]')).to_contain_text("minute 61 is out of range")
    cron.fill("0 9 * * 1-5")
    expect(preview).to_contain_text("Weekdays at 09:00")
    page.fill('#schedule-form input[name="duration_hours"]', "1")
    page.fill('#schedule-form input[name="duration_minutes"]', "30")
    page.fill('#schedule-form input[name="timezone"]', "Europe/Berlin")
    page.click('#schedule-form button[type="submit"]')
    row = page.locator("tr", has_text="Weekdays at 09:00")
    expect(row).to_contain_text("1h 30m")
    expect(row).to_contain_text("Europe/Berlin")
    shoot(page, "schedules")

    # Record now and watch the progress advance on the dashboard.
    page.click("text=Streams")
    card = page.locator("article.stream", has_text="Loop FM")
    card.locator('input[name="duration_seconds"]').fill("0.1")  # 6 seconds
    card.locator("button", has_text="Record now").click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    live = page.locator("#live .card")
    expect(live).to_contain_text("Loop FM", timeout=10_000)
    expect(live.locator(".size")).not_to_have_text("0 B", timeout=10_000)
    first = live.locator(".elapsed").inner_text()
    expect(live.locator(".elapsed")).not_to_have_text(first, timeout=5_000)
    shoot(page, "dashboard-recording")

    page.click("text=Sessions")
    expect(page.locator("#sessions .badge").first).to_have_text("completed", timeout=30_000)
    expect(page.locator("#timeline .day .ok")).to_have_count(1)
    shoot(page, "sessions")

    page.click("text=Logs")
    expect(page.locator("#log .entry").first).to_be_visible()
    expect(page.locator("#log")).to_contain_text("Recording session")
    page.select_option('#log-filters select[name="level"]', "ERROR")
    expect(page.locator("#log")).not_to_contain_text("Recording session")
    history = page.locator("#events")
    expect(history).to_contain_text("“Loop FM” added")
    expect(history.locator("tr.stream-created td").nth(2)).to_have_text("ui"), "changes made here say so"
    expect(history.locator("tr.session-completed")).to_have_count(1)
    page.select_option('#event-filters select[name="type"]', "stream,schedule,config,host")
    expect(history.locator("tr.session-completed")).to_have_count(0)
    expect(history).to_contain_text("“Loop FM” added")
    shoot(page, "logs")
    page.click("text=System")
    expect(page.locator("#system-cards")).to_contain_text("CPU")
    expect(page.locator("#disks .card")).to_have_count(6)
    shoot(page, "system")

    # Back up, lose the stream, restore it.
    page.click("text=Backup")
    page.fill('input[name="name"]', "before-cleanup")
    page.click("text=Create backup")
    row = page.locator('[data-backup="before-cleanup"]')
    expect(row).to_contain_text("1 streams, 1 schedules")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("text=Validate").click()
    expect(page.locator("#flash")).to_contain_text("is valid")
    shoot(page, "backup")
    stream_id = requests.get(ui_server.url + "/api/streams", auth=("admin", PASSWORD), timeout=5).json()["streams"][0]["id"]
    page.goto(ui_server.url + "/streams")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("article.stream", has_text="Loop FM").locator("button", has_text="Delete").click()
    expect(page.locator("article.stream")).to_have_count(0)
    page.click("text=Backup")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('[data-backup="before-cleanup"]').locator("text=Restore (overwrite)").click()
    expect(page.locator("#flash")).to_contain_text("Restored before-cleanup")
    page.click("text=Streams")
    expect(page.locator("article.stream", has_text="Loop FM")).to_be_visible()
    assert stream_id not in [s["id"] for s in requests.get(ui_server.url + "/api/streams", auth=("admin", PASSWORD),
                                                           timeout=5).json()["streams"]], "a new stream, same config"

    page.click("text=Log out")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(ui_server.url + "/streams")
    expect(page).to_have_url(re.compile(r"/login\?next=/streams"))
    shoot(page, "login")
    assert errors == [], f"the browser reported errors: {errors}"



def test_a_dropped_config_file_shows_up_marked_and_its_errors_on_the_dashboard(browser: Browser,
                                                                              tmp_path: Path) -> None:
    server = start_server(tmp_path / "state")
    try:
        page = browser.new_page(viewport=SIZES["desktop"])
        log_in(page, server, "/streams")
        config = server.state_dir / "config"
        started = time.monotonic()
        (config / "drop-in.json").write_text(json.dumps({
            "name": "Dropped FM", "url": "http://127.0.0.1:9/dropped.mp3", "artist": "From A File",
            "schedules": [{"cron": "0 9 * * 1-5", "duration_minutes": 30}]}))
        card = page.locator("article.stream", has_text="Dropped FM")
        while not card.count() and time.monotonic() - started < 5:
            page.wait_for_timeout(250)
            page.reload()
        assert card.count() == 1, "the stream from the file is not on the Streams page within 5 s"
        expect(card.locator(".badge.from-file")).to_have_text("from drop-in.json")
        expect(card.locator("button", has_text="Edit")).to_have_count(0)
        expect(card.locator("button", has_text="Record now")).to_have_count(1)
        shoot(page, "streams-from-file")

        (config / "broken.json").write_text('{"name": "Broken FM",\n  "url": "http://127.0.0.1:9/b.mp3",,\n}')
        page.goto(server.url + "/")
        problem = page.locator(".config-files li", has_text="broken.json")
        for _ in range(20):
            if problem.count():
                break
            page.wait_for_timeout(250)
            page.reload()
        expect(problem).to_contain_text("line 2: not valid JSON")
        shoot(page, "dashboard-config-error")

        missing = page.goto(server.url + "/no-such-page")
        assert missing is not None and missing.status == 404
        expect(page.locator("h2")).to_have_text("Page not found")
    finally:
        server.stop()

def test_changes_with_the_cookie_need_the_csrf_token(ui_server: Server) -> None:
    session = requests.Session()
    page = session.get(ui_server.url + "/login", timeout=5).text
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    answer = session.post(ui_server.url + "/login", data={"username": "admin", "password": PASSWORD,
                                                          "form_token": token}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', session.get(ui_server.url + "/", timeout=5).text).group(1)
    body = {"name": "CSRF FM", "url": "http://127.0.0.1:9/x.mp3"}
    assert session.get(ui_server.url + "/api/streams", timeout=5).status_code == 200, "reads need no token"
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = session.post(ui_server.url + "/api/streams", json=body, headers=headers, timeout=5)
        assert refused.status_code == 403 and "security token" in refused.json()["error"]
    assert session.post(ui_server.url + "/logout", allow_redirects=False, timeout=5).status_code == 403
    accepted = session.post(ui_server.url + "/api/streams", json=body, headers={"X-CSRF-Token": csrf}, timeout=5)
    assert accepted.status_code == 201
    forged_cookie = requests.get(ui_server.url + "/api/streams", cookies={"recorder_session": "e30.abc"}, timeout=5)
    assert forged_cookie.status_code == 401


def test_failed_logins_are_rate_limited(tmp_path: Path) -> None:
    server = start_server(tmp_path / "state")
    try:
        session = requests.Session()

        def attempt(password: str) -> requests.Response:
            page = session.get(server.url + "/login", timeout=5).text
            token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
            return session.post(server.url + "/login", allow_redirects=False, timeout=10,
                                data={"username": "admin", "password": password, "form_token": token})

        for _ in range(5):
            wrong = attempt("guess")
            assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        blocked = attempt(PASSWORD)
        assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
        assert "recorder_session" not in blocked.cookies
    finally:
        server.stop()
