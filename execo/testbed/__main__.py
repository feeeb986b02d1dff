"""``python -m execo.testbed``: see `execo.testbed.cli`."""

import sys

from execo.testbed.cli import main

__all__: list = []

sys.exit(main())
