"""The import graph of the whole checkout: no cycles, and every layer imports only the layers below it.

Every .py under the packages below is parsed with ast (nothing is imported). An import inside a function
counts: it runs on first call, and a cycle through it is a cycle all the same. Resolution follows
Python's: relative imports against the importing module's package; `from a.b import c` is the module
a.b.c where that exists, else a.b; `import a.b.c` is the longest known prefix. In a folder without an
__init__.py (bench/, fuzz/, tests/... run as scripts or by pytest with their folder on sys.path), a
bare `import x` is the sibling x.py where one exists. Imports of anything outside the checkout
(numpy, onnx, ...) are dropped.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("runtime", "export", "calibration", "ros_bridge", "training", "bench", "tests", "testbed", "examples",
            "fuzz")
ABOVE_RUNTIME = tuple(p for p in PACKAGES if p != "runtime")
LEAVES = ("training", "bench")  # nothing outside them imports them, but the tests of training
NEVER = [  # (importer, imported): whole top-level packages
    *[("runtime", p) for p in ABOVE_RUNTIME],
    ("ros_bridge", "calibration"), ("calibration", "ros_bridge"),
    ("tests", "bench"),
    ("testbed", "tests"), ("testbed", "bench"),
]


def module_files(repo: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name → file, for every .py under the packages (a package is its __init__.py)."""
    modules = {}
    for package in packages:
        for path in sorted((repo / package).rglob("*.py")):
            parts = list(path.relative_to(repo).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _known_prefix(name: str, modules) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports_of(module: str, path: Path, modules) -> set[str]:
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    script_folder = not (path.parent / "__init__.py").exists()
    found = set()

    def absolute(name: str) -> str | None:
        sibling = f"{package}.{name}" if package else name
        if script_folder and name.split(".")[0] not in PACKAGES and _known_prefix(sibling, modules):
            return _known_prefix(sibling, modules)
        return _known_prefix(name, modules)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(absolute(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base_parts = parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else [])
                base = ".".join(base_parts)
                resolve = lambda name: _known_prefix(name, modules)  # noqa: E731 - relative: no sibling rule
            else:
                base, resolve = node.module, absolute
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                found.add(full if full in modules else resolve(base))
    found.discard(None)
    found.discard(module)
    return found


def import_graph(repo: Path = REPO, packages=PACKAGES) -> dict[str, set[str]]:
    """Module → the checkout's modules it imports (anywhere in its body)."""
    modules = module_files(repo, packages)
    return {module: _imports_of(module, path, modules) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, iterative), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import that breaks a layering rule, as 'importer -> imported (rule)'."""
    top = lambda name: name.split(".")[0]  # noqa: E731
    problems = []
    for importer in sorted(graph):
        for imported in sorted(graph[importer]):
            pair = (top(importer), top(imported))
            if pair in NEVER:
                problems.append(f"{importer} -> {imported} ({pair[0]} never imports {pair[1]})")
            elif pair[1] in LEAVES and pair[0] not in (pair[1], "tests"):
                problems.append(f"{importer} -> {imported} ({pair[1]} is a leaf: nothing imports it)")
    return problems


def _describe(components: list[list[str]], graph) -> str:
    lines = []
    for component in components:
        members = set(component)
        edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in members]
        lines.append(f"{len(component)} modules: " + ", ".join(component) + "\n    " + "\n    ".join(edges))
    return "\n".join(lines)


def test_the_checkout_has_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles (strongly connected components; break each one):\n" + _describe(found, graph)


def test_each_layer_imports_only_the_layers_below_it():
    assert layer_violations(import_graph()) == []


def test_the_graph_sees_the_imports_it_is_meant_to():
    graph = import_graph()
    assert any(m.startswith("runtime.artifact") for m in graph["runtime.api"])
    assert "testbed.artifacts" in graph["tests.conftest"]
    assert any(m.startswith("testbed.") for m in graph["bench.bench_reliability"])  # imported inside a function


def test_a_planted_cycle_and_planted_violations_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}, "g": {"g"}}
    assert cycles(graph) == [["a", "b", "c"], ["e", "f"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    planted = {"runtime.x": {"export.y", "runtime.z"}, "runtime.z": set(), "export.y": set(),
               "ros_bridge.n": {"calibration.c"}, "calibration.c": set(), "tests.t": {"bench.b"}, "bench.b": set(),
               "testbed.k": {"tests.t"}, "export.e": {"training.m"}, "training.m": {"training.n"}, "training.n": set(),
               "tests.training.t": {"training.m"}}
    assert layer_violations(planted) == [
        "export.e -> training.m (training is a leaf: nothing imports it)",
        "ros_bridge.n -> calibration.c (ros_bridge never imports calibration)",
        "runtime.x -> export.y (runtime never imports export)",
        "testbed.k -> tests.t (testbed never imports tests)",
        "tests.t -> bench.b (tests never imports bench)",
    ]


def test_resolution_of_relative_from_and_function_level_imports(tmp_path):
    files = {
        "runtime/__init__.py": "",
        "runtime/a.py": "from . import b\nfrom .sub import c\n",
        "runtime/b.py": "def f():\n    from runtime.sub.c import thing\n",
        "runtime/sub/__init__.py": "from .. import a\n",
        "runtime/sub/c.py": "from runtime.sub import nothing_here\nimport runtime.sub.missing\nimport numpy\n",
        "bench/run.py": "import helper\nfrom runtime import a\n",
        "bench/helper.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path, ("runtime", "bench"))
    assert graph == {"runtime": set(), "runtime.a": {"runtime.b", "runtime.sub.c"}, "runtime.b": {"runtime.sub.c"},
                     "runtime.sub": {"runtime.a"}, "runtime.sub.c": {"runtime.sub"},
                     "bench.run": {"bench.helper", "runtime.a"}, "bench.helper": set()}
