"""Where setting values come from: INI files and config.d folders, the environment, the command
line, and the files that `<key>_file` names for a secret key.

Each reader returns {(section, key): (text, where)}; the caller merges them in precedence order
(a later source wins key by key), so `base.ini` + `site.ini` + `config.d/*.ini` overlay. A secret
key (an operator token, the MQTT password, ...) may instead be given as `<key>_file = PATH` in
any source, e.g. a systemd credential: the file is read at load (and at every reload), and its
content, without the trailing newline, is the value. One source setting both forms is refused.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from telemetryhub.config_boards import BOARD_PREFIX, read_board_section
from telemetryhub.config_checks import unreadable
from telemetryhub.errors import ConfigError

if TYPE_CHECKING:  # config imports this module; the type is only for annotations
    from telemetryhub.config import KeySpec

Raw = dict[tuple[str, str], tuple[str, str]]
Specs = Mapping[tuple[str, str], "KeySpec"]

ENV_PREFIX = "TELEMETRYHUB_"
FILE_SUFFIX = "_file"
_MAX_SECRET_BYTES = 64 * 1024


def config_files(paths: Iterable[Path]) -> list[Path]:
    """The files to read in order: a directory stands for its *.ini files, sorted by name."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.ini")) if path.is_dir() else [path])
    return files


def read_file(path: Path, specs: Specs) -> Raw:
    """The keys of one INI file; ConfigError for an unreadable file, section or key."""
    problem = unreadable(path)
    if problem is not None:
        raise ConfigError(f"config file '{path}' {problem} (expected an INI file)")
    parser = configparser.ConfigParser(
        interpolation=None, default_section="\x00no default section", strict=True
    )
    try:
        with path.open(encoding="utf-8") as stream:
            parser.read_file(stream)
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not a valid INI file: {exc}") from exc
    except OSError as exc:  # a read error after a successful open (EIO, a vanished mount)
        raise ConfigError(f"config file '{path}' cannot be read: {exc}") from exc
    sections = _sections(specs)
    raw: Raw = {}
    for section in parser.sections():
        if section.startswith(BOARD_PREFIX):  # [board:<device id>]: one board's own settings
            raw.update(read_board_section(section, parser.items(section), str(path)))
            continue
        if section not in sections:
            raise ConfigError(
                f"{path} [{section}]: unknown section; expected one of {', '.join(sections)}"
            )
        for key, value in parser.items(section):
            _put(raw, specs, section, key, value, f"{path} [{section}] {key}")
    return raw


def read_env(env: Mapping[str, str], specs: Specs) -> Raw:
    """TELEMETRYHUB_<SECTION>_<KEY> (and _<KEY>_FILE for secrets); unknown names refused."""
    by_name = {spec.env_var: spec for spec in specs.values()}
    by_name.update(
        {f"{spec.env_var}{FILE_SUFFIX.upper()}": spec for spec in specs.values() if spec.secret}
    )
    prefixes = tuple(f"{ENV_PREFIX}{section.upper()}_" for section in _sections(specs))
    raw: Raw = {}
    for name, value in env.items():
        spec = by_name.get(name)
        if spec is not None:
            key = spec.key + FILE_SUFFIX if name != spec.env_var else spec.key
            _put(raw, specs, spec.section, key, value, f"environment {name}")
        elif name.startswith(prefixes):
            known = ", ".join(sorted(by_name))
            raise ConfigError(f"environment {name}: unknown setting; expected one of {known}")
    return raw


def read_overrides(overrides: Mapping[str, object], source: str, specs: Specs) -> Raw:
    """{"section.key": value} pairs (command-line flags) as raw text."""
    raw: Raw = {}
    for name, value in overrides.items():
        section, _, key = name.partition(".")
        _put(raw, specs, section, key, to_text(value), f"{source} {name}")
    return raw


def to_text(value: object) -> str:
    """A setting's value as it would be written in an INI file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(item) for item in value)
    return str(value)


def _put(raw: Raw, specs: Specs, section: str, key: str, text: str, where: str) -> None:
    """Record one value; a `<secret>_file` key records the content of the file it names."""
    base = key.removesuffix(FILE_SUFFIX)
    spec = specs.get((section, base))
    if key.endswith(FILE_SUFFIX) and spec is not None and spec.secret:
        if (section, base) in raw:
            raise ConfigError(f"{where}: {base} is set too; expected one of {base}, {key}")
        raw[(section, base)] = (_read_secret(Path(text), f"{where} = {text!r}"), where)
        return
    if (section, key) not in specs:
        keys = ", ".join(k for s, k in specs if s == section) or (
            "section.key with section one of " + ", ".join(_sections(specs))
        )
        raise ConfigError(f"{where}: unknown key; expected one of {keys}")
    if (section, key) in raw:  # within one source only its _file twin can have set it
        raise ConfigError(f"{where}: {key}{FILE_SUFFIX} is set too; expected one of them")
    raw[(section, key)] = (text, where)


def _read_secret(path: Path, label: str) -> str:
    problem = unreadable(path)
    if problem is not None:
        raise ConfigError(f"{label}: the file {problem}")
    try:
        data = path.read_bytes()[: _MAX_SECRET_BYTES + 1]
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: the file cannot be read as UTF-8 text: {exc}") from exc
    secret = text.rstrip("\r\n")
    if not secret or len(data) > _MAX_SECRET_BYTES:
        raise ConfigError(f"{label}: expected a file holding one secret, got an empty or huge one")
    return secret


def _sections(specs: Specs) -> list[str]:
    return list(dict.fromkeys(section for section, _ in specs))
