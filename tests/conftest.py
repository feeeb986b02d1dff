import logging

import pytest


@pytest.fixture
def caplog_execo(caplog):
    """caplog, WARNING and above: the "execo" logger's records reach it by
    propagation to the root logger."""
    caplog.handler.setLevel(logging.WARNING)
    yield caplog
