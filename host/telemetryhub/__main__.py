"""`python -m telemetryhub` runs the command line."""

import sys

from telemetryhub.cli.main import main

sys.exit(main())
