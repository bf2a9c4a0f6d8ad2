"""Loads OpenBLAS from the scipy-openblas32 wheel before the C++ core is imported.

Loading it with RTLD_GLOBAL lets the extension resolve its scipy_-prefixed symbols for a
regular install and for an editable one (where the link-time rpath does not point at the
wheel), without LD_LIBRARY_PATH. The wheel's folder is found without importing the package
(its __init__ pulls in importlib.metadata: ~20 ms of `import fastnet`).
"""

import ctypes
import importlib.util
import os


def library_path() -> str:
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "fastnet needs the scipy-openblas32 package (pip install scipy-openblas32)"
        )
    libdir = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    names = sorted(
        n
        for n in os.listdir(libdir)
        if n.startswith("libscipy_openblas")
        and (n.endswith(".so") or ".so." in n or n.endswith(".dylib"))
    )
    if not names:
        raise ImportError(f"no libscipy_openblas library in {libdir}")
    return os.path.join(libdir, names[0])


def load() -> str:
    path = library_path()
    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    return path


LIBRARY_PATH = load()
