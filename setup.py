"""Build step: the board firmware (top-level firmware/) ships inside the package as data.

Everything else about the package is declared in pyproject.toml. A wheel (or an install from
the sdist) gets a copy of firmware/ at telemetryhub/_firmware, where
`telemetryhub.firmware_bundle.firmware_dir()` finds it; an editable install and a source
checkout use firmware/ itself, so there is one copy to edit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

FIRMWARE = Path(__file__).resolve().parent / "firmware"
PACKAGED = ("telemetryhub", "_firmware")  # keep in step with firmware_bundle.PACKAGED_NAME
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mpy", ".*")


class BuildPyWithFirmware(build_py):
    """build_py, then a copy of firmware/ into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads firmware/ in place
            return
        if not (FIRMWARE / "main.py").is_file():
            raise SystemExit(f"setup.py: no firmware in {FIRMWARE} (an incomplete sdist?)")
        target = Path(self.build_lib).joinpath(*PACKAGED)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(FIRMWARE, target, ignore=_SKIP)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = list(super().get_outputs(include_bytecode))
        target = Path(self.build_lib).joinpath(*PACKAGED)
        return outputs + [str(p) for p in sorted(target.rglob("*")) if p.is_file()]


setup(cmdclass={"build_py": BuildPyWithFirmware})
