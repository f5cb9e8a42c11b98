"""tests/support/cli.py runs `clusters-bot` in the test's process: it must report what the
process would, and leave the test's process as it found it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from tests.support.cli import run_cli


def test_in_process_reports_what_the_process_reports(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "POSTHOG_PROJECT_ID": "nope"}
    process = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    in_process = run_cli(["check"], env=env, cwd=tmp_path)
    assert process.returncode == 2
    assert (in_process.returncode, in_process.stdout, in_process.stderr) == (
        process.returncode,
        process.stdout,
        process.stderr,
    )


def test_the_environment_directory_and_logging_are_put_back(tmp_path: Path) -> None:
    environment, directory = dict(os.environ), Path.cwd()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    env = {
        "HOME": str(tmp_path),
        "POSTHOG_PROJECT_ID": "1",
        "POSTHOG_API_KEY": "phx_x",
        "SLACK_BOT_TOKEN": "xoxb-x",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'not-a-dir' / 'x.db'}",
    }
    (tmp_path / "not-a-dir").write_text("a file where a directory should be")

    result = run_cli(["check"], env=env, cwd=tmp_path)  # configures logging, then fails

    assert result.returncode == 1 and "state database cannot be used" in result.stderr
    assert dict(os.environ) == environment and Path.cwd() == directory
    assert root.handlers == handlers and root.level == level
