"""Every kind of failure is one row of execo.failures.KINDS, and every
reader goes through that row: ``ok``, the reason, the log, the process
keywords, the stats, a report, a saved and loaded process.

The tests run over the table: a new kind is tested by them as soon as it
is a row. Each makes the failure happen on a real ended process by
setting its flag, as the transport that detects it does.
"""

import inspect
import logging

import pytest

from execo import Local, Process, Remote, Report
from execo import failures
from execo.report import from_dict
from execo.stats import COUNTERS

FAILURES = [kind for kind in failures.KINDS if kind.switches]


def ended_with(kind, **keywords):
    """A process run to its end (exit 0), then marked with ``kind``."""
    process = Process("true", **keywords).run(timeout=30)
    assert process.ok
    setattr(process, kind.flag, True)
    return process


@pytest.mark.parametrize("kind", FAILURES, ids=lambda kind: kind.name)
def test_a_failure_makes_the_process_not_ok_unless_ignored(kind):
    assert not ended_with(kind).ok
    assert ended_with(kind, **{"ignore_" + kind.name: True}).ok


@pytest.mark.parametrize("kind", FAILURES, ids=lambda kind: kind.name)
def test_each_kind_has_keywords_on_processes_and_actions(kind):
    for switch in ("ignore_" + kind.name, "nolog_" + kind.name):
        for cls in (Process, Local, Remote):
            assert switch in inspect.signature(cls).parameters, (cls, switch)
        assert getattr(Local("true", **{switch: True}).processes[0], switch) is True


@pytest.mark.parametrize("kind", FAILURES, ids=lambda kind: kind.name)
def test_the_reason_of_a_failure_is_its_rows(kind):
    process = ended_with(kind)
    assert process.failure_reason == kind.reason(process) is not None


@pytest.mark.parametrize("kind", failures.KINDS, ids=lambda kind: kind.name)
def test_each_kind_is_counted_and_reported(kind):
    process = ended_with(kind)
    stats = process.stats()
    assert kind.counter in COUNTERS
    assert stats[kind.counter] == 1
    assert sum(stats[k.counter] for k in failures.KINDS) == 1
    report = Report([process])
    assert "1 %s" % (kind.label[0],) in report.to_string()
    assert kind.label[2] in report.to_string(wide=True)


@pytest.mark.parametrize("kind", FAILURES, ids=lambda kind: kind.name)
def test_a_loaded_process_counts_as_far_as_its_fields_tell(kind):
    process = ended_with(kind)
    loaded = from_dict(process.to_dict())
    assert loaded.ok is False
    assert loaded.stats()["num_ok"] == 0
    assert set(loaded.stats()) == set(process.stats())


@pytest.mark.parametrize("kind", FAILURES, ids=lambda kind: kind.name)
def test_a_failure_is_logged_as_a_warning_unless_nolog(kind, caplog):
    caplog.set_level(logging.DEBUG, logger="execo")
    for quiet, level in ((False, logging.WARNING), (True, logging.DEBUG)):
        caplog.clear()
        process = ended_with(kind, **{"nolog_" + kind.name: quiet})
        failures.log_failure(process, kind.name, "it failed")
        assert [r.levelno for r in caplog.records if r.getMessage() == "it failed"] == [level]


def test_a_process_ending_with_a_failure_logs_one_line_with_its_reason(caplog_execo):
    process = Process("echo why >&2; exit 3", shell=True).run(timeout=30)
    assert [r.getMessage() for r in caplog_execo.records] == [
        "'echo why >&2; exit 3': exit 3 (stderr: why)"]
    assert process._logged_failure == "exit 3"
    quiet = Process("exit 3", shell=True, nolog_exit_code=True).run(timeout=30)
    assert quiet._logged_failure is None and not quiet.ok
