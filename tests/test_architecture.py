"""The layering of docs/architecture.md: imports point one way, and there are no cycles."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "fastebm"
# Energies build their compiled form with Numba (user functions, kernel families); the
# backend imports Numba lazily for its thread count. Everything else reaches the kernels
# through ``fastebm.backend``.
COMPILED_FORM = {"fastebm.energies.base", "fastebm.energies.custom", "fastebm.energies.compose",
                 "fastebm.backend"}


def _module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """Modules imported anywhere in ``path`` (module level or inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            module = node.module or ""
            target = (f"{base}.{module}" if module else base) if node.level else module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _graph():
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_api_modules_reach_the_kernels_only_through_the_backend():
    offenders = {}
    for name, path in ((_module_name(p), p) for p in ROOT.rglob("*.py")):
        if name.startswith("fastebm._kernels") or name in COMPILED_FORM:
            continue
        bad = {m for m in _imports(path) if m.split(".")[0] == "numba"
               or (m.startswith("fastebm._kernels")
                   and not m.startswith("fastebm._kernels.ziggurat_tables"))}
        if bad:
            offenders[name] = sorted(bad)
    assert not offenders, offenders


def test_kernels_never_import_the_api():
    for name, imported in _graph().items():
        if name.startswith("fastebm._kernels"):
            api = {m for m in imported if not m.startswith("fastebm._kernels")
                   and m != "fastebm._contract"}
            assert not api, (name, api)


def test_no_import_cycles_between_modules():
    graph = {name: {m for m in deps if not _is_package(m)} for name, deps in _graph().items()
             if not _is_package(name)}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def _is_package(name):
    return (ROOT.parent / name.replace(".", "/") / "__init__.py").exists()
