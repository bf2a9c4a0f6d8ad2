"""The native extension links only against symbols the scipy-openblas32 library exports.

A symbol the header declares but the library lacks links fine (shared objects may leave
symbols undefined) and then kills the process at its first call ("symbol lookup error").
"""

import os
import shutil
import subprocess

import pytest

import fastnet as fn


def _dynamic_symbols(path, undefined):
    out = subprocess.run(
        ["nm", "-D", "--undefined-only" if undefined else "--defined-only", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@pytest.mark.skipif(shutil.which("nm") is None, reason="nm (binutils) not installed")
def test_every_openblas_symbol_used_by_the_core_is_exported():
    needed = {s for s in _dynamic_symbols(fn._core.__file__, True) if s.startswith("scipy_")}
    assert needed, "the core should call OpenBLAS"
    exported = _dynamic_symbols(os.path.realpath(fn._openblas.LIBRARY_PATH), False)
    assert needed <= exported, f"missing from libscipy_openblas: {sorted(needed - exported)}"
