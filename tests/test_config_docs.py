"""docs/configuration.md is generated from the settings table and must not drift from it."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_doc_is_current() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_config_docs
    finally:
        sys.path.pop(0)
    current = (ROOT / "docs" / "configuration.md").read_text()
    assert current == make_config_docs.render(), "run tools/make_config_docs.py"
