"""Settings: one declared table, documented in the README, bad values refused with one clear line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.settings import SETTINGS, SettingsError, load

REPO = Path(__file__).resolve().parents[1]


def test_defaults_match_what_users_of_the_original_expect() -> None:
    settings = load({})
    assert (settings.web_port, settings.web_host, settings.log_level) == (8666, "0.0.0.0", "INFO")
    assert settings.max_concurrent_recordings == 3 and settings.cleanup_after_transfer is True
    assert (settings.max_artwork_size_mb, settings.default_max_retries, settings.retry_delay_seconds) == (10, 3, 60)
    assert settings.event_log_path == Path("state/events.jsonl")
    assert settings.recordings_dir == Path("state/recordings") and settings.config_dir == Path("state/config")


def test_each_folder_can_be_moved_to_the_original_volumes() -> None:
    settings = load({"STATE_DIR": "/app/data", "RECORDINGS_DIR": "/app/recordings", "LOGS_DIR": "/app/logs",
                     "ARTWORK_DIR": "/app/artwork", "CONFIG_DIR": "/app/config"})
    assert settings.event_log_path == Path("/app/data/events.jsonl")
    assert settings.folders == {"state": Path("/app/data"), "recordings": Path("/app/recordings"),
                                "logs": Path("/app/logs"), "artwork": Path("/app/artwork"),
                                "config": Path("/app/config"), "backups": Path("/app/data/backups")}


@pytest.mark.parametrize("name, value, message", [
    ("WEB_PORT", "abc", "WEB_PORT: 'abc' is not a whole number"),
    ("WEB_PORT", "70000", "WEB_PORT: 70000 is out of range 1-65535"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL: 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR"),
    ("CLEANUP_AFTER_TRANSFER", "maybe", "CLEANUP_AFTER_TRANSFER: 'maybe' is not true or false"),
    ("TZ", "Mars/Base", "TZ: 'Mars/Base' is not an IANA time zone"),
])
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load({name: value})


def test_a_bad_value_stops_serve_with_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "recorder", "serve"], cwd=REPO, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "WEB_PORT": "abc", "STATE_DIR": str(tmp_path)}, timeout=30)
    assert result.returncode == 2
    assert result.stderr == "recorder: error: WEB_PORT: 'abc' is not a whole number\n"
    assert not (tmp_path / "events.jsonl").exists()


def test_every_setting_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [setting.name for setting in SETTINGS if f"`{setting.name}`" not in readme]
    assert not missing, f"README.md does not document {missing}"
