"""CI: the built wheel, installed alone in a fresh virtualenv, works outside this checkout.

    python .ci/wheel_smoke.py VENV

Starts the stand-ins from this checkout (the local PostHog with a few generated runs, one with
a planted change, and the fake Slack), then runs VENV's `clusters-bot check --dry-run` against
them from an empty folder: it must render the alerts from the templates the wheel carries and
post nothing. Also checks that VENV's `clusters-bot sandbox` says how to get the stand-ins, which
the wheel does not carry (this script takes them from the checkout's development install).
Exits non-zero with the reason on any failure.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from standins.posthog.server import LocalPostHog
from standins.slack.server import FakeSlack
from standins.stack import ALERT_CHANNEL, API_KEY, BOT_TOKEN, PROJECT_ID, PROJECT_TIMEZONE
from standins.traffic.generator import Change, Plant, SeriesSpec, generate

JOB = "Default - traces"


def fail(reason: str, result: subprocess.CompletedProcess[str] | None = None) -> None:
    print(f"wheel smoke: {reason}", file=sys.stderr)
    if result is not None:
        print(f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}", file=sys.stderr)
    sys.exit(1)


def run(
    venv: Path, args: list[str], env: dict[str, str], cwd: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "clusters-bot"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def main(venv: Path) -> None:
    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # no PYTHONPATH: the installed package, not this checkout
        cwd="/",
    )
    if not located.stdout.startswith(str(venv.resolve())):
        fail("the virtualenv does not import its own installed bot", located)
    world = generate(
        seed=3,
        series=[SeriesSpec(level="trace", job_name=JOB)],
        runs=3,
        items_per_run=600,
        now=datetime.now(UTC),
        planted={(JOB, 2): Plant(Change.ERROR_HEAVY, scale=2.0)},
    )
    with (
        LocalPostHog(project_id=PROJECT_ID, api_key=API_KEY, timezone=PROJECT_TIMEZONE) as posthog,
        FakeSlack(bot_token=BOT_TOKEN) as slack,
        tempfile.TemporaryDirectory() as empty,
    ):
        posthog.insert_events(world.events)
        posthog.set_jobs(world.jobs)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": empty,
            "POSTHOG_HOST": posthog.url,
            "POSTHOG_PROJECT_ID": str(PROJECT_ID),
            "POSTHOG_API_KEY": API_KEY,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "ALERT_CHANNEL": ALERT_CHANNEL,
            "DATABASE_URL": f"sqlite:///{Path(empty) / 'bot.db'}",
        }
        dry = run(venv, ["check", "--dry-run"], env, empty)
        if dry.returncode != 0:
            fail(f"`clusters-bot check --dry-run` exited {dry.returncode}", dry)
        if f"== {ALERT_CHANNEL}" not in dry.stdout or "alerts 0," in dry.stdout:
            fail("the dry run rendered no alert for the planted change", dry)
        if slack.calls_to("chat.postMessage"):
            fail("the dry run posted to Slack", dry)
        print(dry.stdout.splitlines()[-1])

        sandbox = run(venv, ["sandbox"], env, empty)
        if sandbox.returncode != 2 or "pip install -e '.[sandbox]'" not in sandbox.stderr:
            fail(
                "`clusters-bot sandbox` without the stand-ins does not say how to get them", sandbox
            )
        if "Traceback" in sandbox.stderr:
            fail("`clusters-bot sandbox` without the stand-ins printed a traceback", sandbox)
        located = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import standins"],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
        )
        if located.returncode == 0:
            fail("the wheel carries the stand-ins (package standins)", located)
    print("wheel smoke: the installed wheel renders a dry run and explains the stand-ins")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
