"""Every test function of tests/firmware/mp/test_*.py, each run under the real MicroPython."""

from __future__ import annotations

import ast

import pytest

from tests.firmware.conftest import MP_DIR, RunMicropython

pytestmark = pytest.mark.micropython


def _mp_tests() -> list[tuple[str, str]]:
    found = []
    for path in sorted(MP_DIR.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.append((path.stem, node.name))
    return found


@pytest.mark.parametrize(("module", "function"), _mp_tests(), ids=lambda v: str(v))
def test_under_micropython(micropython: RunMicropython, module: str, function: str) -> None:
    out = micropython("run.py", module, function)
    assert f"PASS {module} {function}" in out
