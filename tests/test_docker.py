"""Docker: the image cannot be built here, so its files are checked against each other and the settings table.

hadolint lints the Dockerfile; .env.example, the compose files and the Dockerfile must name the same settings
and folders as recorder.settings, and the image must install itself with the script CI runs.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.settings import SETTINGS

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.yml.example")
DEFAULTS = {setting.name: setting.default for setting in SETTINGS}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each Dockerfile instruction, with continuation lines joined."""
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", dockerfile)  # a continuation may be followed by comment lines
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, arguments = line.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def dockerfile(keyword: str) -> list[str]:
    return [arguments for found, arguments in instructions((REPO / "Dockerfile").read_text()) if found == keyword]


def image_env() -> dict[str, str]:
    return dict(pair.split("=", 1) for arguments in dockerfile("ENV") for pair in shlex.split(arguments))


def image_volumes() -> set[str]:
    volumes: set[str] = set()
    for arguments in dockerfile("VOLUME"):
        volumes.update(json.loads(arguments) if arguments.startswith("[") else arguments.split())
    return volumes


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([str(hadolint), "--no-color", "Dockerfile"], cwd=REPO, capture_output=True, text=True,
                            timeout=30)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_parser_reads_continued_instructions() -> None:
    parsed = instructions("FROM x\nENV A=1 \\\n    # why\n    B='two words'\nRUN a \\\n  && b\n")
    assert parsed == [("FROM", "x"), ("ENV", "A=1      B='two words'"), ("RUN", "a    && b")]


def test_env_example_lists_every_setting_with_its_default() -> None:
    lines = (REPO / ".env.example").read_text().splitlines()
    assert not [line for line in lines if re.match(r"\s*[A-Za-z_]\w*\s*=", line)], "a copy must change nothing"
    found = {}
    for index, line in enumerate(lines):
        match = re.fullmatch(r"# ([A-Z][A-Z0-9_]*)=(.*)", line)
        if not match:
            continue
        name, value = match.groups()
        assert name not in found, f"{name} is listed twice"
        found[name] = value
        assert name in DEFAULTS, f".env.example names {name}, which is not a setting"
        assert lines[index - 1] == f"# Default: {DEFAULTS[name] or '(empty)'}", name
        above = []
        for previous in reversed(lines[:index - 1]):
            if not previous.startswith("# "):
                break
            above.insert(0, previous[2:])
        help_text = next(setting.help for setting in SETTINGS if setting.name == name)
        assert " ".join(above).startswith(help_text), f"{name}: the description should start with the table's help"
        # The value shown is the one that applies in the image: its ENV, else the recorder's default.
        assert value == image_env().get(name, DEFAULTS[name]), name
    assert sorted(found) == sorted(DEFAULTS), "every setting must be in .env.example"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_is_valid_and_mounts_the_image_volumes(name: str) -> None:
    import yaml  # PyYAML comes with schemathesis (requirements-test.txt)

    compose = yaml.safe_load((REPO / name).read_text())
    service = compose["services"]["audio-recorder"]
    assert service["build"] == "."
    assert service["ports"] == ["8666:8666"]
    assert service["restart"] == "unless-stopped"
    assert service["env_file"] == [{"path": ".env", "required": False}]
    assert "environment" not in service, "environment: would silently override the same names in .env"
    assert "healthcheck" not in service, "the health check comes from the image"
    targets = {volume.split(":")[1] for volume in service["volumes"]}
    assert targets == image_volumes()


def test_every_state_folder_of_the_image_lies_in_a_volume() -> None:
    env = image_env()
    folders = {name: value for name, value in env.items() if value.startswith("/app/")}
    assert set(folders) <= set(DEFAULTS), "the image sets a folder variable the recorder does not read"
    assert {name for name in DEFAULTS if name.endswith("_DIR")} == set(folders), "the image must set every folder"
    outside = [path for path in folders.values() if not any(f"{path}/".startswith(f"{volume}/")
                                                              for volume in image_volumes())]
    assert not outside, f"{outside} would be lost with the container"
    others = set(env) - set(DEFAULTS)
    assert all(name.startswith("PYTHON") for name in others), f"the image sets {others}, which are not settings"


def test_the_image_installs_with_the_script_ci_runs() -> None:
    assert "scripts/test.sh" in (REPO / ".ci/run").read_text()
    assert re.search(r"^bash scripts/setup\.sh --test$", (REPO / "scripts/test.sh").read_text(), re.MULTILINE)
    copied = " ".join(dockerfile("COPY"))
    assert "scripts/setup.sh" in copied and "requirements.txt" in copied
    runs = dockerfile("RUN")
    assert any(re.match(r"bash scripts/setup\.sh( |$)", run) for run in runs), "the image must run scripts/setup.sh"
    assert not any("pip install" in run or "apt-get install" in run for run in runs), "install only through setup.sh"
    assert dockerfile("CMD") == ['["/app/.venv/bin/python", "-m", "recorder", "serve"]']
    assert any("/health" in check for check in dockerfile("HEALTHCHECK"))
    assert dockerfile("USER") and dockerfile("USER")[-1].split(":")[0] not in ("0", "root")


def test_the_build_context_leaves_out_state_and_secrets() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    mounted = {volume.split(":")[0].removeprefix("./") for volume in
               re.findall(r"^\s*- (\./[^\s#]+)", (REPO / "docker-compose.yml").read_text(), re.MULTILINE)}
    assert mounted and mounted | {".env", "state", ".git", ".venv"} <= ignored
