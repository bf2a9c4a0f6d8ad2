"""Build of fastnet's two native modules: the C++ core (pybind11, its own thread pool, OpenBLAS from the
scipy-openblas32 wheel) and the Cython metric kernels.

The C++ core is built by ``IncrementalBuildExt``: a source is recompiled only when its object is
older than the source or than a header it includes (directly or through other headers), and the
stale sources compile in parallel (``-j N``, default: every core). Editing one optimizer's
header rebuilds that optimizer's file and relinks; editing core/arena.h rebuilds what includes
it. With ``CC="ccache gcc" CXX="ccache g++"`` unchanged files are free even after a clean."""

import glob
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pybind11
import scipy_openblas32
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# -march=native: the package is built on the machine that runs it (pip install from source).
# Set FASTNET_PORTABLE=1 to build for a generic x86-64 (e.g. a wheel for other machines).
arch = [] if os.environ.get("FASTNET_PORTABLE") else ["-march=native"]
cxx_flags = [
    "-O3",
    "-std=c++17",
    "-pthread",
    "-fopenmp-simd",
    "-fno-math-errno",
    "-Wall",
    "-Wno-unknown-pragmas",
] + arch

CSRC = "csrc"
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def local_includes(path, include_dirs, seen=None):
    """Every project header `path` includes, directly or through other headers (`#include "..."`
    resolved against the including file's folder, then `include_dirs`); system headers are not
    followed."""
    seen = set() if seen is None else seen
    with open(path, encoding="utf-8") as f:
        names = _INCLUDE.findall(f.read())
    for name in names:
        for base in [os.path.dirname(path)] + list(include_dirs):
            candidate = os.path.normpath(os.path.join(base, name))
            if os.path.isfile(candidate):
                if candidate not in seen:
                    seen.add(candidate)
                    local_includes(candidate, include_dirs, seen)
                break
    return seen


class IncrementalBuildExt(build_ext):
    """build_ext that compiles only the stale sources of the C++ core, in parallel."""

    def build_extension(self, ext):
        if ext.language != "c++":
            return super().build_extension(ext)
        compile_one = self.compiler.compile
        project_dirs = [d for d in ext.include_dirs if os.path.abspath(d).startswith(os.getcwd())]
        workers = (
            self.parallel
            if isinstance(self.parallel, int) and self.parallel > 0
            else os.cpu_count()
        )

        def compile_stale(sources, output_dir=None, **kwargs):
            objects = self.compiler.object_filenames(sources, output_dir=output_dir)
            stale = []
            for src, obj in zip(sources, objects):
                inputs = [src, *local_includes(src, project_dirs)]
                if (
                    self.force
                    or not os.path.exists(obj)
                    or any(os.path.getmtime(i) > os.path.getmtime(obj) for i in inputs)
                ):
                    stale.append(src)
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                for _ in pool.map(
                    lambda s: compile_one([s], output_dir=output_dir, **kwargs), stale
                ):
                    pass
            return objects

        self.compiler.compile = compile_stale
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = compile_one


core = Extension(
    "fastnet._core",
    sources=sorted(glob.glob(f"{CSRC}/**/*.cpp", recursive=True)),
    # The extension is relinked when any header is newer than it; IncrementalBuildExt then
    # recompiles only the sources that include a changed header.
    depends=sorted(glob.glob(f"{CSRC}/**/*.h", recursive=True)),
    include_dirs=[pybind11.get_include(), scipy_openblas32.get_include_dir(), CSRC],
    library_dirs=[scipy_openblas32.get_lib_dir()],
    libraries=[scipy_openblas32.get_library()],
    # The package's __init__ loads libscipy_openblas.so with RTLD_GLOBAL before importing
    # _core, which works for regular and editable installs; the rpath helps regular installs.
    runtime_library_dirs=["$ORIGIN/../scipy_openblas32/lib"],
    extra_compile_args=cxx_flags,
    extra_link_args=["-pthread"],
    language="c++",
)

data = Extension(
    "fastnet._metrics",
    sources=["fastnet/_metrics.pyx"],
    extra_compile_args=["-O3"] + arch,
)

setup(
    ext_modules=[core] + cythonize([data], compiler_directives={"language_level": "3"}, quiet=True),
    cmdclass={"build_ext": IncrementalBuildExt},
)
