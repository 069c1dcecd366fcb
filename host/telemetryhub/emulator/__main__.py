"""`python -m telemetryhub.emulator`: run one emulated board."""

from __future__ import annotations

import sys

from telemetryhub.emulator.cli import main

sys.exit(main())
