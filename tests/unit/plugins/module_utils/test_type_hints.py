"""The project standard "type hints on module_utils", kept: every function and
method of plugins/module_utils, public or private (a leading ``_``, dunder
methods and nested functions included), annotates each parameter but self/cls
and its return.  mypy (make test's typecheck) then checks their bodies; an
unannotated def would be skipped by it."""

import ast
import glob
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_UTILS = os.path.join(HERE, "..", "..", "..", "..", "plugins", "module_utils")
FILES = sorted(glob.glob(os.path.join(MODULE_UTILS, "**", "*.py"), recursive=True))  # subpackages too


def unannotated(source):
    """[(line, name, what is missing)] of every def in ``source``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        params = args.posonlyargs + args.args + args.kwonlyargs + [p for p in (args.vararg, args.kwarg) if p]
        bare = [p.arg for p in params if p.annotation is None and p.arg not in ("self", "cls")]
        if bare:
            out.append((node.lineno, node.name, "parameters " + ", ".join(bare)))
        if node.returns is None:
            out.append((node.lineno, node.name, "return"))
    return sorted(out)


def test_the_check_sees_what_is_missing():
    source = ("def a(x, *rest, key=1, **more): pass\n"
              "def b(self, y: int) -> None: pass\n"
              "def _private(z): pass\n"
              "class C:\n    def m(self, q: str): pass\n"
              "def d(): \n    def inner(v) -> int: return v\n    return inner\n"
              "class D:\n    def __init__(self, w: int): pass\n    def __eq__(self, other: object) -> bool: return True\n")
    assert unannotated(source) == [(1, "a", "parameters x, key, rest, more"), (1, "a", "return"),
                                   (3, "_private", "parameters z"), (3, "_private", "return"),
                                   (5, "m", "return"), (6, "d", "return"), (7, "inner", "parameters v"),
                                   (10, "__init__", "return")]


@pytest.mark.parametrize("path", FILES, ids=[os.path.relpath(f, MODULE_UTILS) for f in FILES])
def test_functions_are_annotated(path):
    with open(path, encoding="utf-8") as handle:
        missing = unannotated(handle.read())
    assert not missing, "\n".join("%s:%d %s: no annotation for %s" % (os.path.relpath(path, MODULE_UTILS), line, name, what)
                                  for line, name, what in missing)
