"""tests/compat runs on the loopback test bed of tests/integration."""

from tests.integration.conftest import testbed  # noqa: F401  (the session's sshd)
