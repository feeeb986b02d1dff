"""What the emulated-cluster tests share: the bed must run in CI."""

import os

import pytest

from execo.testbed.emulated import emulation_unavailable_reason


def require_emulation():
    """Skip where the emulated bed cannot run; in CI (root, every package) fail instead."""
    reason = emulation_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root and must run the emulated bed: %s" % reason)
        pytest.skip(reason)
