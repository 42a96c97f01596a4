"""The benchmarks still run (tiny sizes): a benchmark that rots unnoticed measures nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize("script, arguments, expected", [
    ("eventlog.py", ["--appends", "20", "--events", "2000"], "replay of 2000 events"),
    ("scheduling.py", ["--fires", "3"], "fire -> session.started over 3 fires"),
    ("transfer.py", ["--megabytes", "2", "--rounds", "1"], "2 MB upload, median of 1"),
])
def test_a_benchmark_runs_and_prints_its_ratio(script: str, arguments: list[str], expected: str) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), *arguments], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout and "ratio" in result.stdout
