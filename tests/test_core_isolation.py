"""The core and the top-level API import without napari, Qt or magicgui."""

import subprocess
import sys

import pytest

FORBIDDEN = ("napari", "qtpy", "PyQt6", "PyQt5", "PySide6", "magicgui", "vispy")


@pytest.mark.parametrize(
    "module",
    ["napari_gmm", "napari_gmm.core", "napari_gmm._layers", "napari_gmm._plot"],
)
def test_module_does_not_import_gui_packages(module):
    code = (
        f"import sys, {module}\n"
        f"loaded = sorted(m for m in {FORBIDDEN!r} if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"


def test_top_level_api_runs_the_sweep_headless():
    code = (
        "import napari_gmm, sys\n"
        "r = napari_gmm.sweep(napari_gmm.make_seed_example(), n_components=[1, 2],"
        " covariance_types=['full'])\n"
        "assert r.best_key == (2, 'full')\n"
        "assert 'napari' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_core_modules_only_import_within_the_core():
    # layering: the core is the bottom layer; nothing in it reaches up to the
    # napari adapters, the command line or the package top
    import ast
    from pathlib import Path

    import napari_gmm.core

    core = Path(napari_gmm.core.__file__).parent
    offenders = []
    for path in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level >= 2 or (
                    node.level == 0
                    and (node.module or "").startswith("napari_gmm")
                    and not (node.module or "").startswith("napari_gmm.core")
                ):
                    offenders.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.name
                    if name.startswith("napari_gmm") and not name.startswith(
                        "napari_gmm.core"
                    ):
                        offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"core modules import from outside the core: {offenders}"


def _core_import_graph() -> dict[str, set[str]]:
    """``{module: core modules it imports}`` for every module under ``core/``.

    Every import counts, at the top of a module or inside a function (a lazy
    import is still an arrow). ``__init__`` stands for the package itself,
    so a module importing a name from ``napari_gmm.core`` depends on it.
    """
    import ast
    from pathlib import Path

    import napari_gmm.core

    core = Path(napari_gmm.core.__file__).parent
    modules = {path.stem for path in core.glob("*.py")}

    def target(dotted: str) -> set[str]:
        """The core module a dotted name inside the core refers to."""
        first = dotted.split(".")[0]
        return {first if first in modules else "__init__"} if dotted else set()

    graph = {}
    for path in sorted(core.glob("*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    within = node.module or ""
                elif node.level == 0 and (node.module or "").startswith(
                    "napari_gmm.core"
                ):
                    within = (node.module or "").removeprefix("napari_gmm.core")
                    within = within.removeprefix(".")
                else:
                    continue
                if within:
                    imported |= target(within)
                else:  # from . import x: x is a module or a name of the package
                    for alias in node.names:
                        imported |= target(alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("napari_gmm.core."):
                        imported |= target(alias.name.removeprefix("napari_gmm.core."))
                    elif alias.name == "napari_gmm.core":
                        imported.add("__init__")
        graph[path.stem] = imported - {path.stem}
    return graph


def _import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None if it has none."""
    state = {}  # module -> "open" while on the current path, "done" after
    path = []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                return [*path[path.index(imported) :], imported]
            if imported not in state:
                cycle = visit(imported)
                if cycle:
                    return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_sees_a_lazy_cycle():
    # the check below is only as good as its cycle finder
    assert _import_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _import_cycle({"sweep": {"large"}, "large": {"sweep"}}) == [
        "large",
        "sweep",
        "large",
    ]


def test_core_modules_import_each_other_only_downward():
    # layering: core modules form a hierarchy, so each can be read, tested
    # and changed knowing only the modules below it; two modules importing
    # each other (even lazily, inside a function) break that
    graph = _core_import_graph()
    assert "sweep" in graph and "large" in graph["sweep"]  # the parse sees imports
    cycle = _import_cycle(graph)
    assert cycle is None, f"core modules import each other: {' -> '.join(cycle)}"


def test_core_modules_use_only_public_names_of_each_other():
    # what one core module needs from another is public (documented) there:
    # no ``from .em import _helper`` and no ``em._helper`` reach-ins
    import ast
    from pathlib import Path

    import napari_gmm.core

    core = Path(napari_gmm.core.__file__).parent
    modules = {path.stem for path in core.glob("*.py")}

    def private(name: str) -> bool:
        return name.startswith("_") and not name.startswith("__")

    offenders = []
    for path in sorted(core.glob("*.py")):
        tree = ast.parse(path.read_text())
        module_names = set()  # sibling modules bound in this file
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                for alias in node.names:
                    if private(alias.name):
                        offenders.append(f"{path.name}:{node.lineno} {alias.name}")
                    if not node.module and alias.name in modules:
                        module_names.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in module_names
                and private(node.attr)
            ):
                offenders.append(
                    f"{path.name}:{node.lineno} {node.value.id}.{node.attr}"
                )
    assert not offenders, f"private names used across core modules: {offenders}"
