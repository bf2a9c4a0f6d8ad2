"""Run a snippet of Python in a child process with a deadline.

Risky cases (threads, fork, signals, files that can block) run here so that a hang or a
crash fails its test instead of stalling CI. The child inherits this interpreter and the
environment; its stdout is returned for the test to parse.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run_child(code: str, timeout: float = 60.0, env: dict | None = None,
              cwd: str | None = None) -> str:
    """Run ``code`` in ``python -c``; fail (AssertionError) on a non-zero exit, a signal or
    a deadline overrun, with the child's output in the message. Returns its stdout."""
    child_env = dict(os.environ)
    if env:
        child_env.update(env)
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, env=child_env, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(f"child did not finish within {timeout} s (hang?)\n"
                             f"stdout:\n{out}\nstderr:\n{err}") from None
    if proc.returncode != 0:
        raise AssertionError(f"child exited with {proc.returncode}\nstdout:\n{proc.stdout}\n"
                             f"stderr:\n{proc.stderr}")
    return proc.stdout
