"""Sphinx configuration of fastnet's API reference.

Build (from the repository root, after ``pip install -e ".[dev]"``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

The reference is read from the importable ``fastnet`` package (installed or in place), so the
native modules must be built first. tests/test_docs.py runs this build with warnings as
errors, so a broken reference fails CI.
"""

import os
import sys

# A source checkout with the extensions built in place needs no install: the repository root
# goes first on the path, as it does for the tests.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import fastnet  # noqa: E402  (after the path)

project = "fastnet"
author = "fastnet contributors"
copyright = "fastnet contributors"
release = fastnet.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

# NumPy-style docstrings only.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Show the signature as written (defaults such as 1e-3 stay readable).
autodoc_preserve_defaults = True

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
