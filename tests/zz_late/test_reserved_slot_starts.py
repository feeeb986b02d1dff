"""The start of the reservation made by the planning's end-to-end test
(tests/integration/test_planning_oar.py), checked once the tests in
between have used the minutes it waits for (see oar_deferred): this
directory sorts after tests/unit, the last to run."""

from __future__ import annotations

import os
import sys

import pytest

# run alone, the integration helpers are not on the path yet
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))

from oar_deferred import PENDING
from oar_frontends import OarFrontends, oar_testbed_or_skip
from test_planning_oar import check_reservation_started


def test_the_reserved_slot_starts_when_and_where_found():
    if not PENDING:
        # CI runs the whole suite: the end-to-end test must have reserved
        assert not os.environ.get('CI'), 'the planning end-to-end test reserved nothing'
        pytest.skip('run with test_planning_oar.py, whose reservation this checks')
    with OarFrontends(oar_testbed_or_skip(), ['nancy']) as frontends:
        while PENDING:
            check_reservation_started(PENDING.pop(), frontends)
