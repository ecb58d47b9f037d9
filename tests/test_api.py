"""The public API in lynxid/__init__.py: every name resolves, none is shadowed by a module of
the same name, and importing the package loads no heavy dependency."""
import importlib
import pkgutil
import subprocess
import sys

import lynxid


def test_every_public_name_resolves_to_a_callable_or_class():
    assert "__version__" in lynxid.__all__
    for name in lynxid.__all__:
        if name == "__version__":
            continue
        obj = getattr(lynxid, name)
        assert callable(obj), name
        assert obj.__module__.startswith("lynxid."), (name, obj.__module__)


def test_no_public_name_is_a_module_name():
    # importing lynxid.<module> sets that attribute on the package, replacing a function of
    # the same name; so the two name spaces must not meet
    modules = {m.name for m in pkgutil.iter_modules(lynxid.__path__)}
    clash = modules & set(lynxid.__all__)
    assert not clash, clash
    for m in sorted(modules - {"__main__"}):
        importlib.import_module(f"lynxid.{m}")
    for name in lynxid.__all__:
        if name != "__version__":
            assert callable(getattr(lynxid, name)), name


def test_import_is_light():
    code = ("import sys, lynxid; heavy = [m for m in ('torch', 'timm', 'faiss', 'cv2', 'pandas') if m in sys.modules];"
            " print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    try:
        getattr(lynxid, "no_such_name")
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("unknown names must raise AttributeError")


def _package_imports():
    """{module: set of lynxid modules it imports} and the private names imported across
    modules, from the source (imports inside functions included)."""
    import ast
    from pathlib import Path
    root = Path(lynxid.__file__).parent
    mods = {p.stem: p for p in root.glob("*.py")}
    edges, private = {m: set() for m in mods}, []
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                target = (node.module or "").split(".")[0]
                if target in mods:
                    edges[name].add(target)
                    private += [(name, target, a.name) for a in node.names if a.name.startswith("_")]
                elif node.module is None:
                    edges[name] |= {a.name for a in node.names if a.name in mods}
    return edges, private


def test_no_import_cycles_and_no_private_imports():
    edges, private = _package_imports()
    assert not private, private
    # depth-first search for a back edge
    state, cycle = {}, []

    def visit(m, path):
        state[m] = 1
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                cycle.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycle, cycle
