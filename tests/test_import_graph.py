"""The module graph of search/, verifiers/, selfplay/ and jobs/: no cycle, and no import upward
across the concerns' layers, with imports inside functions counted (an import put in a function to
get round a cycle still is one). Imports under `if TYPE_CHECKING:` are left out: they never run.

The graph comes from the source (an AST walk), so it sees every import, not only those a test
happens to execute.
"""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("search", "verifiers", "selfplay", "jobs")

# The concerns, lowest first: a module may import its own layer and the layers below, never above.
# A name is a module or a package prefix; the longest prefix that matches a module decides its layer.
# The root `selfplay` package (its `__init__` imports nothing) sits with the lowest of its layers.
LAYERS = (
    ("search",),  # the tree and the algorithms: standard library only
    ("verifiers",),  # checks, the sandbox, the scorers
    ("selfplay.tasks", "selfplay.tools"),  # what a problem is, its family, the tools a model may call
    ("selfplay.model",),  # the policy runtime and the prompt formats
    ("selfplay.runfiles",),  # run settings and run files
    ("selfplay.answering",),  # grading, fast and deliberate answering, evaluation
    ("selfplay.loop",),  # the round: curriculum, sampling work, selection, finetuning
    ("selfplay.builtin_model",),  # the built-in model's factory
    ("selfplay.execution",),  # executors on Ray
    ("selfplay.treeview",),  # the tree viewer
    ("selfplay.commands",),  # the `lab` command line
    ("jobs",),  # entry points
)
RUNTIME = "selfplay.model"  # the policy runtime imports none of these:
NOT_IN_RUNTIME = ("selfplay.loop.curriculum", "selfplay.answering.grading", "selfplay.runfiles.runconfig", "selfplay.runfiles.tracking",
                  "selfplay.builtin_model", "selfplay.tasks.traces")


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a `from package import name` of a submodule counts
    as that submodule)."""
    files = module_files()

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in files.items():
        targets = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {resolve(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = ".".join(part for part in (package, node.module) if part)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in files else resolve(base))
        graph[module] = {target for target in targets if target and target != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_of(module: str) -> int:
    if module == "selfplay":
        return layer_of("selfplay.tasks")
    matches = [(len(prefix), index) for index, prefixes in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")
    return max(matches)[1]


def within(module: str, prefixes) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def test_the_graph_is_read():
    graph = import_graph()
    assert "selfplay.tasks.spec" in graph["selfplay.tasks.countdown.spec"]
    assert "search" in graph["selfplay.answering.evaluate"] or "search.strategies" in graph["selfplay.answering.evaluate"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_has_a_layer():
    for module in import_graph():
        layer_of(module)


def test_no_import_goes_up_a_layer():
    upward = sorted(f"{module} -> {target}" for module, targets in import_graph().items() for target in targets
                    if layer_of(target) > layer_of(module))
    assert upward == []


def test_the_policy_runtime_imports_nothing_of_the_round_or_the_factory():
    graph = import_graph()
    runtime = [module for module in graph if within(module, (RUNTIME,))]
    assert runtime and not [f"{module} -> {target}" for module in runtime for target in graph[module]
                            if within(target, NOT_IN_RUNTIME)]


@pytest.mark.parametrize("folder", [*PACKAGES, "benchmarks"])
def test_no_private_name_is_imported_from_another_module(folder):
    """`from module import _name` reaches into another module's insides; a name used elsewhere is public."""
    found = []
    for path in sorted((REPO / folder).rglob("*.py")):
        where = path.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] in PACKAGES:
                found += [f"{where}: {node.module}.{alias.name}" for alias in node.names
                          if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert found == []
