"""Build of fastnet's two native modules: the C++ core (pybind11, its own thread pool, OpenBLAS from the
scipy-openblas32 wheel) and the Cython metric kernels."""
import glob
import os

import pybind11
import scipy_openblas32
from Cython.Build import cythonize
from setuptools import Extension, setup

# -march=native: the package is built on the machine that runs it (pip install from source).
# Set FASTNET_PORTABLE=1 to build for a generic x86-64 (e.g. a wheel for other machines).
arch = [] if os.environ.get("FASTNET_PORTABLE") else ["-march=native"]
cxx_flags = ["-O3", "-std=c++17", "-pthread", "-fopenmp-simd", "-fno-math-errno", "-Wall", "-Wno-unknown-pragmas"] + arch

core = Extension(
    "fastnet._core",
    sources=sorted(glob.glob("csrc/**/*.cpp", recursive=True)),
    # Headers too: a changed header rebuilds the extension (setuptools tracks sources only).
    depends=sorted(glob.glob("csrc/**/*.h", recursive=True)),
    include_dirs=[pybind11.get_include(), scipy_openblas32.get_include_dir(), "csrc"],
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

setup(ext_modules=[core] + cythonize([data], compiler_directives={"language_level": "3"}, quiet=True))
