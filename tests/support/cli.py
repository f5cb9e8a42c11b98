"""`clusters-bot <command>` in the test's own process: `bot.cli.main(argv)` with exactly the
environment and working directory a subprocess would get, its output captured, and what the
command changes in the process (the environment, the directory, the logging setup) put back.

For commands that run and return (`check`, `doctor`, `run-once`…), a subprocess proves nothing
more and costs seconds of imports; tests of real process behaviour (signals, shutdown, a kill
mid-send, `python -m bot` itself) still start one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from bot import cli

_LOCK = threading.Lock()  # one in-process command at a time: they share os.environ


@contextlib.contextmanager
def _environment(env: Mapping[str, str], cwd: Path) -> Iterator[None]:
    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def run_cli(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """`clusters-bot *argv` as `subprocess.run(..., env=env, cwd=cwd, capture_output=True,
    text=True)` would report it: the exit code, stdout and stderr (logs go to stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with _LOCK, _environment(env, cwd), contextlib.redirect_stdout(out):
        with contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(argv))
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code if isinstance(exit_.code, int) else 2
    return subprocess.CompletedProcess(
        ["clusters-bot", *argv], code, out.getvalue(), err.getvalue()
    )
