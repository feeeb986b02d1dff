"""execo_g5k.charter gives execo 2.8.2's answers, hour by hour, DST included.

2.8.2 forks a child per date to switch ``TZ`` to Europe/Paris. Run in a
process whose ``TZ`` already is Europe/Paris, that child computes what the
parent would: for the long sweeps the 2.8.2 side therefore has those two
helpers replaced by their in-process equivalents (17 520 forks per sweep
would take minutes); ``test_patched_helpers_equal_forking_ones`` checks, on
the weeks of the DST changes, that this changes none of 2.8.2's answers.
"""

import datetime

import pytest

from execo_g5k import charter
from tests.old_execo_g5k import run_old_g5k

PARIS_ENV = {"TZ": "Europe/Paris"}
START = int(datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
HOURS = 2 * 366 * 24  # two years, 2027 and 2028 (a leap year)
# three days around each DST change of 2027 (Sunday 28 March, Sunday 31 October):
# Saturday, the change, and the Monday's charter hours
DST_WEEKS = [int(datetime.datetime(2027, 3, 27, tzinfo=datetime.timezone.utc).timestamp()),
             int(datetime.datetime(2027, 10, 30, tzinfo=datetime.timezone.utc).timestamp())]

NO_FORK = r'''
import datetime, time
import execo_g5k.charter as ch
ch.unixts_to_oar_datetime = lambda ts: datetime.datetime.fromtimestamp(int(ch.get_unixts(ts)))
ch.oar_datetime_to_unixts = lambda dt: time.mktime(dt.timetuple()) + dt.microsecond / 1e6
'''

SWEEP = r'''
from execo_g5k.charter import g5k_charter_time, get_next_charter_period
from execo_g5k.planning import get_charter_el_planning
dates = DATA["dates"]
print(json.dumps({
    "charter": [g5k_charter_time(t) for t in dates],
    "next": [get_next_charter_period(t, t + DATA["spans"][i % len(DATA["spans"])])
             for i, t in enumerate(dates)],
    "el": get_charter_el_planning(dates[0], dates[-1]),
}))
'''

# ends from "the same second" to five days later, so that periods get clipped
SPANS = [0, 1, 1800, 3 * 3600 + 17, 10 * 3600, 26 * 3600 + 5, 5 * 86400]


def ours(dates):
    return {
        "charter": [charter.g5k_charter_time(t) for t in dates],
        "next": [list(charter.get_next_charter_period(t, t + SPANS[i % len(SPANS)]))
                 for i, t in enumerate(dates)],
        "el": [list(p) for p in charter.get_charter_el_planning(dates[0], dates[-1])],
    }


# every hour, plus a quarter past, so that half-hours of the DST shifts are met too
TWO_YEARS = [START + 3600 * h + 900 * (h % 2) for h in range(HOURS)]


@pytest.fixture(scope="module")
def two_years_under_2_8_2():
    """2.8.2's answers, computed once for both machine time zones: its side
    always runs under Paris time (see the module's docstring)."""
    return run_old_g5k(NO_FORK + SWEEP, {"dates": TWO_YEARS, "spans": SPANS}, env=PARIS_ENV)


@pytest.mark.parametrize("machine_tz", ["Europe/Paris", "UTC"])
def test_every_hour_of_two_years_equals_2_8_2(machine_tz, monkeypatch, two_years_under_2_8_2):
    dates, old = TWO_YEARS, two_years_under_2_8_2
    monkeypatch.setenv("TZ", machine_tz)
    import time
    time.tzset()
    try:
        mine = ours(dates)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert mine["charter"] == old["charter"]
    assert mine["next"] == old["next"]
    assert mine["el"] == old["el"]
    # the sweep meets charter time, nights, week-ends and holidays
    assert 0.2 < sum(mine["charter"]) / len(dates) < 0.3
    assert len(mine["el"]) == sum(charter.is_work_day(datetime.date(2027, 1, 1)
                                                      + datetime.timedelta(d))
                                  for d in range(731))


def test_patched_helpers_equal_forking_ones():
    dates = [week + 1800 * i for week in DST_WEEKS for i in range(3 * 48)]
    patched = run_old_g5k(NO_FORK + SWEEP, {"dates": dates, "spans": SPANS}, env=PARIS_ENV)
    forking = run_old_g5k(SWEEP, {"dates": dates, "spans": SPANS}, env=PARIS_ENV)
    assert patched == forking
    assert ours(dates) == forking


def test_charter_time_does_not_depend_on_the_machine_time_zone():
    dates = [week + 1800 * i for week in DST_WEEKS for i in range(3 * 48)]
    old = run_old_g5k("from execo_g5k.charter import g5k_charter_time\n"
                      "print(json.dumps([g5k_charter_time(t) for t in DATA]))",
                      dates, env={"TZ": "UTC"})
    assert [charter.g5k_charter_time(t) for t in dates] == old


def test_french_holidays_equal_2_8_2_for_three_centuries():
    years = list(range(1900, 2200))
    old = run_old_g5k("from execo_g5k.charter import french_holidays\n"
                      "print(json.dumps([sorted(d.isoformat() for d in french_holidays(y))"
                      " for y in DATA]))", years)
    assert [sorted(d.isoformat() for d in charter.french_holidays(y)) for y in years] == old


def test_charter_examples():
    paris = charter.PARIS
    monday_10 = datetime.datetime(2030, 1, 7, 10, tzinfo=paris).timestamp()
    assert charter.g5k_charter_time(monday_10)
    assert not charter.g5k_charter_time(monday_10 + 9 * 3600)   # 19:00
    assert not charter.g5k_charter_time(datetime.datetime(2030, 7, 14, 10, tzinfo=paris))
    friday_20 = datetime.datetime(2030, 1, 11, 20, tzinfo=paris).timestamp()
    start, end = charter.get_next_charter_period(friday_20, friday_20 + 7 * 86400)
    assert (start, end) == (datetime.datetime(2030, 1, 14, 9, tzinfo=paris).timestamp(),
                            datetime.datetime(2030, 1, 14, 19, tzinfo=paris).timestamp())
    assert charter.get_next_charter_period(friday_20, friday_20 + 3600) == (None, None)
