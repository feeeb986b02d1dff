"""The conductor thread survives long timers and raising callbacks; if it
ends anyway, nobody waits for it forever.

The scripts that break the conductor on purpose run in a fresh interpreter:
the conductor is process-wide.
"""

import json
import math

import pytest

from execo import Local, Process, ProcessOutputHandler, wait_any_actions
from tests.unit.test_conductor import run_script


def last_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("timeout", ["3e6", "1e300", "float('inf')"])
def test_a_timeout_of_weeks_or_infinite_does_not_stop_the_loop(timeout):
    result = run_script("""
        import json
        from execo import Process
        long = Process("sleep 0.3", timeout=%s).run(timeout=15)
        # the loop still serves processes started afterwards
        after = Process("echo after").run(timeout=15)
        print(json.dumps([long.ended, long.exit_code, long.timeouted, after.stdout]))
    """ % timeout, timeout=60)
    assert last_json(result) == [True, 0, False, "after\n"]


def test_a_raising_output_handler_is_logged_and_the_loop_goes_on(caplog_execo):
    class Raising(ProcessOutputHandler):
        def read(self, process, stream, string, eof, error):
            raise ZeroDivisionError("handler bug")

    p = Process("echo a", stdout_handlers=[Raising()]).run(timeout=30)
    assert p.ended and p.stdout == "a\n"
    assert Process("echo b").run(timeout=30).stdout == "b\n"
    assert "ZeroDivisionError: handler bug" in caplog_execo.text
    assert "Traceback" in caplog_execo.text


def test_a_failing_select_is_logged_and_the_loop_goes_on():
    result = run_script("""
        import json, logging
        from execo import Process
        from execo.conductor import get_conductor
        records = []
        logging.getLogger("execo").addHandler(logging.Handler())
        logging.getLogger("execo").handlers[-1].emit = records.append
        conductor = get_conductor()  # made, not started yet: its loop will see our select
        real_select = conductor._selector.select
        calls = []
        def select_failing_once(timeout=None):
            if not calls:
                calls.append(1)
                raise RuntimeError("selector bug")
            return real_select(timeout)
        conductor._selector.select = select_failing_once
        p = Process("echo still").run(timeout=30)
        print(json.dumps([p.stdout, any("selector bug" in r.getMessage() for r in records)]))
    """)
    assert last_json(result) == ["still\n", True]


def test_every_waiter_gets_a_clear_error_when_the_conductor_thread_dies():
    # SystemExit from a callback is not caught (it is not an Exception):
    # the thread ends, as any unforeseen death would end it.
    result = run_script("""
        import json, threading, time
        from execo import Local, Process, wait_any_actions
        from execo.conductor import ConductorDied, get_conductor
        sleeper = Process("sleep 60").start()
        chatty = Process("sleep 60").start()
        action = Local("sleep 60").start()
        sleeper.pid, chatty.pid
        outcomes = {}
        def waiter(name, wait):
            start = time.monotonic()
            try:
                wait()
                outcomes[name] = "returned"
            except ConductorDied as exc:
                outcomes[name] = [time.monotonic() - start, str(exc)]
        waits = {
            "wait": sleeper.wait,
            "expect": lambda: chatty.expect("never", timeout=None),
            "action wait": action.wait,
            "wait_any_actions": lambda: wait_any_actions([action]),
        }
        threads = [threading.Thread(target=waiter, args=item) for item in waits.items()]
        for t in threads:
            t.start()
        time.sleep(0.2)
        def die():
            raise SystemExit("killed on purpose")
        get_conductor().call_soon(die)
        for t in threads:
            t.join(30)
        start = time.monotonic()
        try:
            Process("true").run()
            late = "returned"
        except ConductorDied as exc:
            late = str(exc)
        late_delay = time.monotonic() - start
        for p in (sleeper, chatty) + tuple(action.processes):
            p._signal(9)  # the conductor cannot do it any more
        print(json.dumps([outcomes, late, late_delay]))
    """, timeout=60)
    outcomes, late, late_delay = last_json(result)
    assert sorted(outcomes) == ["action wait", "expect", "wait", "wait_any_actions"]
    for name, outcome in outcomes.items():
        assert outcome != "returned", name
        delay, message = outcome
        # woken within about a second, not after the sleep's 60
        assert delay < 20, (name, delay)
        assert "conductor" in message and "killed on purpose" in message, message
    assert "conductor" in late and late_delay < 20


def test_timeout_nan_is_refused_at_construction():
    with pytest.raises(ValueError, match="timeout"):
        Process("true", timeout=math.nan)
    with pytest.raises(ValueError, match="timeout"):
        Process("true", timeout=-1)


def test_a_nan_wait_timeout_is_refused():
    p = Process("true").start()
    with pytest.raises(ValueError, match="nan"):
        p.wait(math.nan)
    p.wait()


def test_a_negative_wait_run_or_expect_timeout_does_not_wait():
    # 2.x scripts pass Timer.remaining(), negative once the time is spent
    p = Process("sleep 30").start()
    action = Local("sleep 30").start()
    try:
        assert p.wait(-1).ended is False
        assert p.expect("never", timeout=-0.5) == (None, None)
        assert action.wait(-2).ended is False
        assert wait_any_actions([action], timeout=-1) == []
        q = Process("sleep 30", ignore_expect_fail=True)
        assert q.run(timeout=-1).ended is False
        q.kill()
    finally:
        p.kill()
        action.kill()
