"""The package's shape: imports point down, no cycles, small modules.

Layers, lowest first (a module may import its own layer and the ones below):

    kernels < layers < core (containers, losses, optim, serialization, summary, ...)
            < models, data, runtime < training < viz and the other features (export, ...) < cli

This is the check ``python ../shared/tools/import_check.py`` runs (the library never imports its
command line; no import cycles), made stricter and written out here so that it runs on a clean
checkout: every import of a minicnn module is read with ``ast``, including those inside
functions. Any import inside a function (minicnn's own, an optional dependency, the standard
library) must say why with a comment on its line; no layer or fast kernel imports a reference
kernel (``*_ref``); every module stays under 300 lines.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "minicnn"
MAX_LINES = 300
#: rank of each part of the package; a module may import ranks <= its own. Modules not named
#: here (new top-level features such as export or serve) sit beside viz, below the CLI.
RANKS = {"kernels": 0, "layers": 1, "_threading": 2, "_malloc": 2, "atomic": 2, "npz": 2, "containers": 2,
         "losses": 2, "optim": 2, "serialization": 2, "summary": 2, "gradcheck": 2, "runtime": 3,
         "models": 3, "data": 3, "training": 4, "datasets": 4, "viz": 5, "cli": 6, "__main__": 6}
FEATURE_RANK = 5


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path):
    """(imported module, line number, inside a function?, the source line) for minicnn modules."""
    name = module_name(path)
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:      # `import minicnn.data.folders.x` etc.
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, node.lineno, id(node) in inner, lines[node.lineno - 1]


def rank(name):
    parts = name.split(".")
    if len(parts) == 1:
        return None                                       # the package root re-exports
    return RANKS.get(parts[1], FEATURE_RANK)


GRAPH = {name: {t: (line, inner, text) for t, line, inner, text in imports_of(path)}
         for name, path in MODULES.items()}


def test_imports_point_down():
    wrong = []
    for name, deps in sorted(GRAPH.items()):
        for target, (line, _, _) in sorted(deps.items()):
            if rank(name) is not None and rank(target) is not None and rank(target) > rank(name):
                wrong.append(f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not wrong, "imports that point up (see the ranks in this file):\n  " + "\n  ".join(wrong)


def test_layers_and_fast_kernels_do_not_borrow_from_the_reference_kernels():
    """A reference kernel is a page to read; what it shares with its fast twin lives in a common
    module (kernels/shapes.py, kernels/winograd_tables.py), so either can change alone."""
    wrong = [f"{name} imports {t}" for name, deps in GRAPH.items() for t in deps
             if t.startswith("minicnn.kernels.") and t.endswith("_ref")
             and (name.startswith("minicnn.layers") or name.endswith(("_fast", "_gather")))]
    assert not wrong, wrong


def test_library_never_imports_the_cli():
    wrong = [f"{name} imports {t}" for name, deps in GRAPH.items() for t in deps
             if t.startswith("minicnn.cli") and not name.startswith(("minicnn.cli", "minicnn.__main__"))]
    assert not wrong, wrong


def find_cycles(graph, skip):
    """Strongly connected components with more than one module (Tarjan), not entering ``skip``."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w in skip:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index and v not in skip:
            visit(v)
    return found


def test_no_import_cycles():
    packages = {n for n, p in MODULES.items() if p.name == "__init__.py"}  # re-exports don't count
    assert find_cycles(GRAPH, packages) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph, set()) == [["a", "b", "c"]]
    assert find_cycles(graph, {"c"}) == []


def silent_inner_imports(path):
    """Imports inside functions (of any module: minicnn's own, optional dependencies, the
    standard library) with no comment on any of their lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines), str(path))
    for f in ast.walk(tree):
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(f):
                text = lines[node.lineno - 1:node.end_lineno] if hasattr(node, "end_lineno") else []
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not any("#" in t for t in text):
                    yield node.lineno, text[0].strip()


def test_an_import_inside_a_function_says_why():
    silent = [f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
              for path in MODULES.values() for line, text in sorted(set(silent_inner_imports(path)))]
    assert not silent, ("move these imports to the top of the module, or say on the line why "
                        "they must stay inside the function:\n  " + "\n  ".join(silent))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_short(name):
    n = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert n < MAX_LINES, f"{MODULES[name]} has {n} lines; split it (modules stay under {MAX_LINES})"
