"""The package's layout (CONTRIBUTING.md, "Layout of the code"): modules in
layers that import only downwards or sideways, no import cycle, and modules and
classes of a size one can read."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skfinetune"

#: Each module's layer: a module may import modules of its layer or below.
LAYERS = {
    # process settings and small services
    "_runtime": 0,
    "_device": 0,
    "_progress": 0,
    "_cache": 0,
    "_docs": 0,
    "_validation": 0,
    # the interfaces between the engine and a family, and networks
    "_export": 1,
    "_family": 1,
    "_fusion": 1,
    "_backbones": 1,
    # the image and text families; fitted values as JSON
    "_vision": 2,
    "_text": 2,
    "_codec": 2,
    # the engine: feeding, inference, training, the probe, the recipe
    "_feeding": 3,
    "_inference": 3,
    "_training": 3,
    "_optim": 3,
    "_probe": 3,
    "_recipe": 4,
    # the estimator bases, then the estimators
    "_state": 5,
    "_base": 5,
    "_fine_tune": 6,
    "_classifier": 7,
    "_regressor": 7,
    "_features": 7,
    "_text_classifier": 7,
    "_text_regressor": 7,
    "_text_features": 7,
    # what uses the estimators from outside
    "_persistence": 8,
    "_batch": 8,
    "_onnx": 8,
    "_display": 8,
    "skorch": 8,
    "_cli": 9,
    "_cli_args": 9,
    "_cli_text": 8,
    "__main__": 9,
    "__init__": 9,
}
MAX_MODULE_LINES = 450
MAX_CLASS_LINES = 250  # without docstrings


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join(parts), path


def _layer(name):
    return LAYERS[name.split(".")[0]]


def _resolve(target, modules):
    """A dotted name inside the package as one of ``modules``' names."""
    if target in modules:
        return target
    if f"{target}.__init__" in modules:
        return f"{target}.__init__"
    return None


def _imports(name, modules):
    """The package's modules that ``name`` imports, at any depth of its code
    (lazy imports too).  ``from . import __version__`` (the package's root) is
    not counted: the root only re-exports."""
    parts = name.split(".")
    package = parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(modules[name].read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join([*base, *filter(None, [node.module])])
        elif (node.module or "").startswith("skfinetune."):
            target = node.module.removeprefix("skfinetune.")
        else:
            continue
        if not target:
            continue
        for alias in node.names:  # "from ._vision import family": a module
            sub = _resolve(f"{target}.{alias.name}", modules)
            if sub is not None and not sub.endswith("__init__"):
                out.add(sub)
                break
        else:
            resolved = _resolve(target, modules)
            if resolved is not None:
                out.add(resolved)
    return out - {name}


def _graph():
    modules = dict(_modules())
    return {name: _imports(name, modules) for name in modules}


def test_every_module_has_a_layer():
    missing = [n for n, _ in _modules() if n.split(".")[0] not in LAYERS]
    assert missing == []


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(name)
    ]
    assert upward == []


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize("name,path", list(_modules()), ids=lambda v: str(v))
def test_modules_and_classes_stay_readable(name, path):
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES, name
    tree = ast.parse(source)
    docstrings = set()  # a class's size is its code: docstrings are not counted
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(getattr(body[0], "value", None), ast.Constant):
                docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            lines = set(range(node.lineno, node.end_lineno + 1)) - docstrings
            size = len(lines)
            assert size <= MAX_CLASS_LINES, f"{name}.{node.name}: {size} lines"
