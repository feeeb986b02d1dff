import logging

import pytest


@pytest.fixture
def caplog_execo(caplog):
    """caplog for the "execo" logger, which does not propagate to root."""
    logger = logging.getLogger("execo")
    logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.WARNING)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
