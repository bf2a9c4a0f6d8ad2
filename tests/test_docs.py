"""The API reference (docs/): it builds without a warning, and every public name has a docstring.

The build runs Sphinx in a child process with a deadline (tests/child.py), as CI does after
``pip install -e ".[test]"``; it is skipped only where Sphinx is not installed.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from child import run_child

import fastnet as fn

DOCS = Path(__file__).resolve().parents[1] / "docs"

# Every public module: each has a page under docs/api/ and its public names need docstrings.
# A module's public names are its __all__, or else what it defines without a leading
# underscore (what Sphinx's automodule documents). The top level comes last, so that a name it
# re-exports is reported where the reference documents it (fastnet.nn.Dense, not fastnet.Dense).
PUBLIC_MODULES = (
    "fastnet.nn",
    "fastnet.optim",
    "fastnet.schedules",
    "fastnet.callbacks",
    "fastnet.training",
    "fastnet.distributed",
    "fastnet.losses",
    "fastnet.metrics",
    "fastnet.init",
    "fastnet.io",
    "fastnet.bundle",
    "fastnet.tabular",
    "fastnet.datasets",
    "fastnet.diagnostics",
    "fastnet.lr_finder",
    "fastnet.ensemble",
    "fastnet.onnx",
    "fastnet.inference",
    "fastnet.sklearn",
    "fastnet.plotting",
    "fastnet._config",
    "fastnet.__main__",
    "fastnet",
)

# fastnet.training is an internal module but for History, the object fit returns.
PUBLIC_NAMES_OVERRIDE = {"fastnet.training": ("History",)}

# Public names allowed to lack a docstring: none.
KNOWN_UNDOCUMENTED: set = set()


def _public_names(module) -> list[str]:
    if module.__name__ in PUBLIC_NAMES_OVERRIDE:
        return list(PUBLIC_NAMES_OVERRIDE[module.__name__])
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    ]


def _has_doc(text) -> bool:
    return bool(text and text.strip())


def _undocumented() -> list[str]:
    """Qualified names of public modules, functions, classes, methods and properties whose
    docstring is missing or blank. A method that overrides a documented one inherits its
    docstring (as in Sphinx); a class needs its own."""
    missing, seen = [], set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        if not _has_doc(module.__doc__):
            missing.append(module_name)
        for name in _public_names(module):
            value = getattr(module, name)
            if inspect.ismodule(value) or id(value) in seen:
                continue
            if not (inspect.isclass(value) or inspect.isroutine(value)):
                continue  # constants and tables are described by their module
            seen.add(id(value))
            where = f"{module_name}.{name}"
            if inspect.isclass(value):
                if not _has_doc(vars(value).get("__doc__")):
                    missing.append(where)
                for attr, raw in vars(value).items():
                    if attr.startswith("_") and attr != "__call__":
                        continue
                    if not (
                        isinstance(raw, (property, staticmethod, classmethod))
                        or inspect.isfunction(raw)
                    ):
                        continue
                    if not _has_doc(inspect.getdoc(getattr(value, attr))):
                        missing.append(f"{where}.{attr}")
            elif not _has_doc(value.__doc__):
                missing.append(where)
    return missing


def test_every_public_name_has_a_docstring():
    missing = [name for name in _undocumented() if name not in KNOWN_UNDOCUMENTED]
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(missing)


def test_known_exceptions_are_current():
    documented = KNOWN_UNDOCUMENTED - set(_undocumented())
    assert not documented, f"documented now, remove from KNOWN_UNDOCUMENTED: {sorted(documented)}"


def test_every_public_module_has_a_page():
    pages = "\n".join(p.read_text() for p in (DOCS / "api").glob("*.rst"))
    for module_name in PUBLIC_MODULES:
        if module_name in ("fastnet", "fastnet._config"):
            continue  # the top level's page and the config page name their functions
        assert re.search(rf"^\.\. automodule:: {re.escape(module_name)}$", pages, re.M), (
            f"no docs/api page documents {module_name}"
        )
    for name in ("set_num_threads", "get_num_threads", "manual_seed", "show_config"):
        assert f".. autofunction:: fastnet.{name}" in pages


def test_every_page_is_in_the_toctree():
    index = (DOCS / "index.rst").read_text()
    for page in (DOCS / "api").glob("*.rst"):
        assert f"api/{page.stem}" in index, f"docs/api/{page.name} is not in docs/index.rst"


KNOWN_DESIGN_CITATIONS: set = set()


def test_sources_do_not_cite_files_outside_the_repo():
    package = Path(fn.__file__).parent
    citing = {
        str(p.relative_to(package)) for p in package.rglob("*.py") if "DESIGN.md" in p.read_text()
    }
    assert citing <= KNOWN_DESIGN_CITATIONS, (
        f"{sorted(citing - KNOWN_DESIGN_CITATIONS)} cite DESIGN.md (not in the repository): "
        "point to docs/architecture.md"
    )


def _python_modules():
    """Every Python module of the package (the compiled _core and _data have no examples)."""
    names = ["fastnet"]
    for info in pkgutil.walk_packages(fn.__path__, "fastnet."):
        names.append(info.name)
    return [n for n in names if n not in ("fastnet._core", "fastnet._data")]


@pytest.mark.parametrize("module_name", _python_modules())
def test_docstring_examples_run(module_name, one_thread):
    """The Examples sections are doctests: each runs and prints what it shows (an example
    marked ``# doctest: +SKIP`` is shown only)."""
    module = importlib.import_module(module_name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module_name} failed"


def test_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    out = tmp_path / "html"
    # -W: any warning is an error; -E: no cached environment; -q: only warnings are printed.
    run_child(
        f"""
        import sys
        from sphinx.cmd.build import build_main
        sys.exit(build_main(["-W", "--keep-going", "-E", "-q", "-b", "html",
                             "-d", {str(tmp_path / "doctrees")!r}, {str(DOCS)!r}, {str(out)!r}]))
        """,
        timeout=300,
    )
    html = (out / "api" / "nn.html").read_text()
    assert 'id="fastnet.nn.Sequential.fit"' in html and 'id="fastnet.nn.Dense"' in html
    assert (out / "architecture.html").exists()
