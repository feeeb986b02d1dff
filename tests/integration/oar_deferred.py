"""Reservations whose start is checked later in the same test session.

A reservation found by the planning starts at least 2.x's 121 s margin
after the jobs it waits for: waiting for it inside the test that made it
would add those minutes to the suite. The test that reserves registers it
here and carries on; ``tests/zz_late/test_reserved_slot_starts.py``,
collected last (after tests/unit), then checks that OAR started it when
and where the planning said, once the other tests have used the time.
"""

from __future__ import annotations

from typing import Any, Dict, List

LATE_CHECK = "zz_late/test_reserved_slot_starts.py::test_the_reserved_slot_starts_when_and_where_found"

PENDING: List[Dict[str, Any]] = []


def late_check_will_run(session: Any) -> bool:
    """Whether this session also runs the late check (else: wait inline)."""
    return any(item.nodeid.endswith(LATE_CHECK) for item in session.items)
