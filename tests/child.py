"""Run a snippet of Python in a child process with a deadline.

Risky cases (threads, fork, signals, files that can block) run here so that a hang or a
crash fails its test instead of stalling CI. The child inherits this interpreter and the
environment; its stdout is returned for the test to parse.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap


def run_child(
    code: str, timeout: float = 60.0, env: dict | None = None, cwd: str | None = None
) -> str:
    """Run ``code`` in ``python -c``; fail (AssertionError) on a non-zero exit, a signal or
    a deadline overrun, with the child's output in the message. Returns its stdout."""
    child_env = dict(os.environ)
    # tests/ on the path, as pytest puts it for the parent: snippets import test modules and
    # conftest's factories.
    here = os.path.dirname(os.path.abspath(__file__))
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (here, child_env.get("PYTHONPATH", "")) if p
    )
    if env:
        child_env.update(env)
    # Its own session: on a deadline the whole group goes, grandchildren included (a forked
    # child hung in a thread library would otherwise outlive the test, spinning on a core).
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise AssertionError(
            f"child did not finish within {timeout} s (hang?)\nstdout:\n{out}\nstderr:\n{err}"
        ) from None
    finally:
        _kill_group(proc)  # anything the child left behind
    if proc.returncode != 0:
        raise AssertionError(f"child exited with {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}")
    return out


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
