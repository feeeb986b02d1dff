"""``python -m execo``: the ``execo`` command (see `execo.cli`)."""

import sys

from execo.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
