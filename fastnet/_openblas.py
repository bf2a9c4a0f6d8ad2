"""Loads OpenBLAS from the scipy-openblas32 wheel before the C++ core is imported.

Loading it with RTLD_GLOBAL lets the extension resolve its scipy_-prefixed symbols for a
regular install and for an editable one (where the link-time rpath does not point at the
wheel), without LD_LIBRARY_PATH.
"""
import ctypes
import os

import scipy_openblas32


def load() -> str:
    libdir = scipy_openblas32.get_lib_dir()
    path = os.path.join(libdir, f"lib{scipy_openblas32.get_library()}.so")
    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    return path


LIBRARY_PATH = load()
