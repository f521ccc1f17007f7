"""docs/architecture.md stays true: the paths and names it cites exist, and the layering rules it states hold.

A backticked span that reads as a repository path (its first component is a top-level folder of the
repo, no placeholder like `<family>`) must exist (a folder when it ends with `/`). A
backticked dotted name under one of the packages (`search.tree.Tree`) must import.
"""
import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "architecture.md"
PACKAGES = ("search", "selfplay", "verifiers", "jobs")
TOP_FOLDERS = {path.name for path in REPO.iterdir() if path.is_dir() and not path.name.startswith(".")}
DOTTED = re.compile(rf"(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+")


def code_spans() -> list[str]:
    return re.findall(r"`([^`]+)`", DOC.read_text(encoding="utf-8"))


def cited_paths() -> list[str]:
    return sorted({span for span in code_spans() if "/" in span and not re.search(r"[\s<>{}*]", span)
                   and span.split("/")[0] in TOP_FOLDERS})


def cited_names() -> list[str]:
    return sorted({span for span in code_spans() if DOTTED.fullmatch(span)})


def resolve(name: str) -> object:
    """The object a dotted name stands for: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            value = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or not (module_name == error.name or module_name.startswith(error.name + ".")):
                raise  # a dependency of the module is missing: not the doc's fault
            continue  # no such module: the rest are attributes
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ModuleNotFoundError(name)


def test_the_doc_cites_paths_and_names():
    assert {"selfplay/loop/rounds.py", "search/strategies.py", "selfplay/tasks/__init__.py"} <= set(cited_paths())
    assert {"search.strategies.STRATEGIES", "selfplay.tasks.spec.register_task"} <= set(cited_names())


@pytest.mark.parametrize("path", cited_paths())
def test_every_cited_path_exists(path):
    target = REPO / path
    assert target.is_dir() if path.endswith("/") else target.exists(), f"docs/architecture.md cites {path}"


@pytest.mark.parametrize("name", cited_names())
def test_every_cited_name_imports(name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"docs/architecture.md cites {name}: {type(error).__name__}: {error}")


def imported_modules(folder: str) -> dict[str, set[str]]:
    """File -> the top-level names of the absolute imports in it, for every .py file under `folder`."""
    found = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
        found[path.relative_to(REPO).as_posix()] = names
    return found


def test_search_imports_only_the_standard_library():
    outside = {path: sorted(names - set(sys.stdlib_module_names) - {"search"})
               for path, names in imported_modules("search").items()}
    assert {path: names for path, names in outside.items() if names} == {}


def test_verifiers_import_neither_selfplay_nor_search():
    assert {path for path, names in imported_modules("verifiers").items() if names & {"selfplay", "search"}} == set()


def test_ray_is_imported_only_by_the_runner():
    importers = {path for folder in PACKAGES for path, names in imported_modules(folder).items() if "ray" in names}
    assert importers == {"selfplay/execution/ray_runner.py"}


def test_datasets_holds_no_python():
    assert sorted((REPO / "datasets").rglob("*.py")) == []
