"""The compiler's packages are its pipeline, and imports only go down it.

Every import in compiler/ is read from the source (module level and inside functions alike),
so an import cycle cannot hide in a function body: no cycles between modules, no import
against the layer order below, and no private name (`_x`) imported from another module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
COMPILER = ROOT / "compiler"

# Lower layers first. A package may import its own modules and any package of a lower layer;
# packages of one layer do not import each other. The back ends read checked models (records
# in `ir`) and never import the checks.
LAYERS: dict[str, int] = {
    "core": 0,
    "catalogue": 1,
    "frontend": 1,
    "ir": 2,
    "lowering": 3,
    "checks": 4,
    "backends": 5,
    "doctools": 5,
    "drivers": 6,
}
FORBIDDEN = {("backends", "checks")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(COMPILER).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported compiler module, names, line) for every import of a compiler module in `path`."""
    this = module_name(path)
    package = this.split(".") if path.name == "__init__.py" else this.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [a.name for a in node.names]
            if node.module is None:  # `from . import x`: x is a module
                found += [(".".join([*base, n]).strip("."), [], node.lineno) for n in names]
            else:
                found.append((target, names, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("survae_dsl.compiler."):
            found.append((node.module.removeprefix("survae_dsl.compiler."), [a.name for a in node.names], node.lineno))
    return found


def graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for path in COMPILER.rglob("*.py"):
        source = module_name(path)
        g.add_node(source)
        for target, names, line in imports(path):
            g.add_edge(source, target, names=names, line=line, file=path.relative_to(ROOT))
    return g


def layer(module: str) -> tuple[str, int]:
    package = module.split(".")[0] if module else ""
    return package, LAYERS.get(package, -1)


def test_every_compiler_module_is_in_a_layer() -> None:
    stray = [m for m in graph().nodes if m and layer(m)[1] < 0]
    assert not stray, f"modules outside the layer packages: {stray}"


def test_no_import_cycles() -> None:
    g = graph()
    g.remove_nodes_from([n for n in list(g.nodes) if n == ""])  # compiler/__init__.py re-exports lazily
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_imports_go_down_the_layers() -> None:
    wrong = []
    for source, target, data in graph().edges(data=True):
        if not source:
            continue
        (p_src, l_src), (p_dst, l_dst) = layer(source), layer(target)
        if p_src != p_dst and (not l_dst < l_src or (p_src, p_dst) in FORBIDDEN):
            wrong.append(f"{data['file']}:{data['line']}: {source} ({p_src}) imports {target} ({p_dst})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_private_name_crosses_a_module() -> None:
    crossing = [
        f"{data['file']}:{data['line']}: {name} from {target}"
        for source, target, data in graph().edges(data=True)
        for name in data["names"]
        if name.startswith("_") and not name.startswith("__") and target != source
    ]
    assert not crossing, "private names imported from other modules:\n" + "\n".join(crossing)
