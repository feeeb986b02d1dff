"""Actions on real local processes, Report counts, and substitution semantics.

Remote actions are only *built* here (no connection is made before
start()), to pin how commands are rendered per host.
"""

import os
import threading

import pytest

from execo import (Action, ActionLifecycleHandler, ActionsFailed, Local, ParallelActions,
                   ProcessesFailed, Remote, Report, SequentialActions, configuration,
                   get_remote, wait_all_actions, wait_any_actions)
from execo.config import SSH
from execo.substitution import SubstitutionError, Template, remote_substitute

pytestmark = pytest.mark.timeout(60)

MODULE_TARGETS = ["t0", "t1", "t2"]


class Recorder(ActionLifecycleHandler):
    def __init__(self):
        self.events = []
        self.end_threads = []
        self.ended = threading.Event()

    def start(self, action):
        self.events.append(("start", action.name))

    def end(self, action):
        self.events.append(("end", action.name))
        self.end_threads.append(threading.current_thread().name)
        self.ended.set()

    def reset(self, action):
        self.events.append(("reset", action.name))


# ---- Local -----------------------------------------------------------------

def test_local_run_captures_output_and_is_finished_ok():
    action = Local("echo hello").run()
    assert action.started and action.ended
    assert action.ok and action.finished_ok
    assert [p.stdout for p in action.processes] == ["hello\n"]
    assert action.name == "echo hello"


def test_process_keywords_given_directly_reach_the_process():
    action = Local("exit 3", shell=True, ignore_exit_code=True).run()
    process = action.processes[0]
    assert process.exit_code == 3
    assert process.ignore_exit_code and process.shell
    assert action.ok


def test_process_args_dict_and_direct_keywords_merge():
    action = Local("echo $X", process_args={"shell": True, "env": {"X": "from-args"}},
                   ignore_exit_code=True).run()
    assert action.processes[0].stdout == "from-args\n"
    assert action.process_args == {"shell": True, "env": {"X": "from-args"},
                                   "ignore_exit_code": True}


def test_action_keywords_stay_on_the_action():
    recorder = Recorder()
    action = Local("true", name="my action", lifecycle_handlers=[recorder],
                   default_expect_timeout=3).run()
    assert action.name == "my action"
    assert action.default_expect_timeout == 3
    assert action.processes[0].name != "my action"
    assert recorder not in action.processes[0].lifecycle_handlers
    assert recorder.events == [("start", "my action"), ("end", "my action")]


def test_timeout_keyword_kills_the_process_and_is_the_action_timeout():
    action = Local("sleep 30", timeout=0.3, nolog_timeout=True).run(timeout=20)
    assert action.ended
    assert action.timeout == 0.3
    assert action.processes[0].timeouted
    assert not action.ok
    assert action.stats()["num_timeouts"] == 1


def test_starting_an_action_twice_is_refused():
    action = Local("true").run()
    with pytest.raises(ValueError, match="already started"):
        action.start()


def test_reset_lets_an_action_run_again():
    recorder = Recorder()
    action = Local("echo again", lifecycle_handlers=[recorder]).run()
    first_pid = action.processes[0].pid
    action.reset()
    assert not action.started and not action.ended
    assert action.run().finished_ok
    assert action.processes[0].pid != first_pid
    assert action.processes[0].stdout == "again\n"
    assert [e for e, _ in recorder.events] == ["start", "end", "reset", "start", "end"]


def test_kill_and_wait_chain_and_return_the_action():
    servers = Local("sleep 30", ignore_exit_code=True).start()
    assert servers.kill().wait(timeout=20) is servers
    assert servers.ended and servers.ok
    assert servers.processes[0].killed


def test_leaving_the_with_block_kills_the_running_action():
    with Local("sleep 30").start() as action:
        assert action.processes[0].running
    assert action.wait(timeout=20).ended
    assert action.processes[0].killed


def test_missing_executable_ends_the_action_with_an_error():
    action = Local("/nonexistent/program", nolog_error=True).run(timeout=20)
    process = action.processes[0]
    assert action.ended and not action.ok
    assert process.error and "/nonexistent/program" in process.error_reason
    assert action.stats()["num_errors"] == 1


def test_end_handler_runs_in_the_conductor_thread():
    recorder = Recorder()
    Local("true", lifecycle_handlers=[recorder]).run()
    assert recorder.end_threads == ["execo-conductor"]


def test_handler_raising_does_not_prevent_the_end(caplog_execo):
    class Broken(ActionLifecycleHandler):
        def end(self, action):
            raise RuntimeError("boom")

    action = Local("true", lifecycle_handlers=[Broken()]).run(timeout=20)
    assert action.ended
    assert "boom" in caplog_execo.text


# ---- groups ------------------------------------------------------------------

def test_parallel_actions_end_when_every_member_has_ended():
    fast, slow = Local("true"), Local("sleep 0.5")
    group = ParallelActions([fast, slow]).start()
    assert wait_any_actions([fast, slow], timeout=20) == [fast]
    assert not group.ended
    group.wait(timeout=20)
    assert group.ended and slow.ended and group.finished_ok
    assert group.processes == fast.processes + slow.processes


def test_sequential_actions_run_members_one_after_the_other(tmp_path):
    log = tmp_path / "log"
    members = [Local("echo %d >> %s; sleep 0.05" % (i, log), shell=True) for i in range(4)]
    members.insert(2, Local("exit 1", shell=True, nolog_exit_code=True))
    sequence = SequentialActions(members).run(timeout=30)
    assert sequence.ended
    assert log.read_text().split() == ["0", "1", "2", "3"]
    assert not sequence.ok  # a failed member does not stop the sequence, but counts
    starts = [m.processes[0].start_date for m in members]
    ends = [m.processes[0].end_date for m in members]
    assert all(ends[i] <= starts[i + 1] for i in range(len(members) - 1))


def test_killing_a_sequence_kills_the_current_member_and_skips_the_rest():
    first, second = Local("sleep 30"), Local("echo never")
    sequence = SequentialActions([first, second]).start()
    assert first.started and not second.started
    sequence.kill().wait(timeout=20)
    assert sequence.ended and first.ended
    assert not second.started
    assert sequence.stats()["end_date"] is not None


def test_empty_groups_and_actions_end_at_start():
    for action in (ParallelActions([]), SequentialActions([])):
        assert action.run(timeout=5).ended and action.ok


def test_groups_nest_and_report_their_members():
    inner = ParallelActions([Local("true"), Local("true")], name="inner")
    outer = SequentialActions([inner, Local("echo last", name="last")], name="outer")
    outer.run(timeout=20)
    stats = outer.stats()
    assert stats["num_processes"] == 3 and stats["num_finished_ok"] == 3
    assert [s["name"] for s in stats["sub_stats"]] == ["inner", "last"]
    outer.hide_subactions = True
    assert outer.stats()["sub_stats"] == []


def test_reset_of_a_group_resets_its_members():
    members = [Local("echo a"), Local("echo b")]
    group = SequentialActions(members).run(timeout=20)
    group.reset()
    assert not any(m.started for m in members)
    assert group.run(timeout=20).finished_ok
    assert [m.processes[0].stdout for m in members] == ["a\n", "b\n"]


# ---- waiting on several actions ------------------------------------------------

def test_wait_any_returns_the_ended_actions():
    slow, fast = Local("sleep 30"), Local("true")
    slow.start(), fast.start()
    try:
        assert wait_any_actions([slow, fast], timeout=20) == [fast]
    finally:
        slow.kill().wait(timeout=20)


def test_wait_all_with_a_timeout_returns_only_those_ended():
    slow, fast = Local("sleep 30"), Local("true")
    slow.start(), fast.start()
    try:
        assert wait_all_actions([slow, fast], timeout=0.5) == [fast]
    finally:
        slow.kill()
    assert wait_all_actions([slow, fast], timeout=20) == [slow, fast]


def test_wait_on_no_action_returns_at_once():
    assert wait_any_actions([]) == [] and wait_all_actions([]) == []


# ---- expect and write over several processes ----------------------------------

def test_expect_matches_on_every_process():
    group = ParallelActions([Local("echo ready-%d; sleep 30" % i, shell=True, ignore_exit_code=True)
                             for i in range(3)]).start()
    try:
        results = group.expect(r"ready-(\d)", timeout=20)
        assert [p for p, _, _ in results] == group.processes
        assert [m.group(1) for _, _, m in results] == ["0", "1", "2"]
        assert all(index == 0 for _, index, _ in results)
    finally:
        group.kill().wait(timeout=20)


def test_expect_reports_no_match_for_a_silent_process():
    group = ParallelActions([Local("echo yes; sleep 30", shell=True, ignore_exit_code=True),
                             Local("sleep 30", ignore_exit_code=True,
                                   nolog_expect_fail=True)]).start()
    try:
        results = group.expect("yes", timeout=0.5)
        assert results[0][1] == 0
        assert results[1][1:] == (None, None)
        assert results[1][0].expect_fail and not group.ok
    finally:
        group.kill().wait(timeout=20)


def test_expect_uses_the_default_expect_timeout():
    action = Local("sleep 30", default_expect_timeout=0.3, nolog_expect_fail=True,
                   ignore_exit_code=True).start()
    try:
        assert action.expect("never")[0][1:] == (None, None)
    finally:
        action.kill().wait(timeout=20)


def test_write_goes_to_every_process():
    group = ParallelActions([Local("head -n 1"), Local("head -n 1")]).start()
    assert group.write("line\n") is group
    group.wait(timeout=20)
    assert [p.stdout for p in group.processes] == ["line\n", "line\n"]


# ---- Report ----------------------------------------------------------------------

def test_report_counts_each_kind_of_outcome():
    killed = Local("sleep 30", name="killed")
    actions = [Local("true", name="fine"), Local("false", name="exit1", nolog_exit_code=True),
               Local("sleep 30", timeout=0.2, name="timeout", nolog_timeout=True),
               Local("/nonexistent/x", name="spawn error", nolog_error=True), killed]
    for action in actions:
        action.start()
    killed.kill()
    wait_all_actions(actions, timeout=30)
    report = Report(actions)
    stats = report.stats()
    assert stats["num_processes"] == 5
    assert stats["num_started"] == 5 and stats["num_ended"] == 5
    assert stats["num_errors"] == 1
    assert stats["num_timeouts"] == 1
    assert stats["num_non_zero_exit_codes"] == 4  # false, timeout, killed, and the spawn error
    assert stats["num_ok"] == 2 and stats["num_finished_ok"] == 2  # fine, killed
    assert stats["start_date"] <= stats["end_date"]
    text = report.to_string()
    for name in ("fine", "exit1", "timeout", "spawn error", "killed", "Report"):
        assert name in text
    assert "1 error" in text and "1 timeout" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    brief = report.to_string(brief=True)
    assert "exit1" not in brief and "Report" in brief
    wide = report.to_string(wide=True)
    assert "timout" in wide and "fkilld" in wide


def test_report_shows_running_actions_and_updates_later():
    action = Local("sleep 30", name="long", ignore_exit_code=True).start()
    report = Report([action])
    try:
        assert "1 running" in report.to_string()
        assert report.stats()["end_date"] is None
    finally:
        action.kill().wait(timeout=20)
    assert "running" not in report.to_string()
    assert report.stats()["num_ended"] == 1


def test_report_nests_reports_and_is_renamable():
    inner = Report([Local("true").run()])
    inner.name = "inner report"
    outer = Report([inner, Local("true").run()])
    assert outer.stats()["num_processes"] == 2
    assert "inner report" in outer.to_string()


def test_report_static_helpers_follow_execo_2_format():
    empty = Report.empty_stats()
    assert empty["num_processes"] == 0 and empty["sub_stats"] == []
    stats = Report.empty_stats()
    stats["name"] = "total"
    stats["sub_stats"] = [dict(Report.empty_stats(), num_processes=2, num_ok=1,
                               start_date=10.0, end_date=20.0),
                          dict(Report.empty_stats(), num_processes=1, num_ok=1,
                               start_date=5.0, end_date=12.0)]
    total = Report.aggregate_stats(stats)
    assert (total["num_processes"], total["num_ok"]) == (3, 2)
    assert (total["start_date"], total["end_date"]) == (5.0, 20.0)
    assert total["name"] == "total"


def test_report_refuses_objects_without_stats():
    with pytest.raises(TypeError, match="stats"):
        Report([42])


def test_failure_exceptions_list_what_failed():
    action = Local("false", nolog_exit_code=True).run()
    assert "1 action(s) failed" in str(ActionsFailed([action]))
    assert "exit_code=1" in str(ProcessesFailed(action.processes))


# ---- substitutions -----------------------------------------------------------------

def test_template_renders_host_and_expressions_by_position_modulo_length():
    template = Template("{{{host}}} -> {{targets}} #{{ids}}",
                        {"targets": ["a", "b", "c"], "ids": [1, 2]})
    assert [template.render("h%d" % i, i) for i in range(4)] == [
        "h0 -> a #1", "h1 -> b #2", "h2 -> c #1", "h3 -> a #2"]
    assert Template("plain").is_constant


def test_remote_substitute_keeps_the_2x_signature():
    assert remote_substitute("{{{host}}}:{{x}}", ["h0", "h1"], 1,
                             ({"x": ["a", "b"]}, {})) == "h1:b"


def test_expression_reads_the_callers_locals_and_globals():
    hosts = ["host1", "host2"]
    targets = list(reversed(hosts))
    clients = Remote("./iperf -c {{targets}} -n {{MODULE_TARGETS}}", hosts)
    assert [p.cmd for p in clients.processes] == ["./iperf -c host2 -n t0",
                                                  "./iperf -c host1 -n t1"]


def test_list_comprehension_sees_the_callers_locals():
    class H:
        def __init__(self, address):
            self.address = address

    targets = [H("x"), H("y")]
    clients = Remote("iperf -c {{[t.address for t in targets]}}", ["s1", "s2", "s3"])
    assert [p.cmd for p in clients.processes] == ["iperf -c x", "iperf -c y", "iperf -c x"]


def test_factory_call_evaluates_in_the_callers_frame():
    saved = configuration["remote_tool"]
    configuration["remote_tool"] = SSH
    try:
        ports = [7001, 7002]
        remote = get_remote("serve --port {{ports}}", ["a", "b"])
    finally:
        configuration["remote_tool"] = saved
    assert [p.cmd for p in remote.processes] == ["serve --port 7001", "serve --port 7002"]


def test_subclass_constructor_frame_is_skipped():
    class Pinger(Remote):
        def __init__(self, hosts):
            targets = ["wrong"]  # noqa: F841 - must not be seen
            super().__init__("ping {{targets}}", hosts)

    targets = ["right"]  # noqa: F841
    assert Pinger(["a"]).processes[0].cmd == "ping right"


def test_host_tag_is_the_rewritten_address():
    remote = Remote("echo {{{host}}}", ["a", "b"],
                    connection_params={"host_rewrite_func": lambda h: h + ".lan"})
    assert [p.cmd for p in remote.processes] == ["echo a.lan", "echo b.lan"]


def test_output_handler_paths_are_substituted_per_host(tmp_path):
    remote = Remote("true", ["a", "b"],
                    stdout_handlers=[str(tmp_path / "{{{host}}}.out")])
    assert [p.stdout_handlers for p in remote.processes] == [
        [str(tmp_path / "a.out")], [str(tmp_path / "b.out")]]


def test_bad_expression_is_an_error_naming_it_before_anything_runs():
    with pytest.raises(SubstitutionError, match=r"\{\{no_such_name\}\}.*NameError"):
        Remote("run {{no_such_name}}", ["a"])
    with pytest.raises(SubstitutionError, match=r"\{\{1 \+\}\}.*SyntaxError"):
        Remote("run {{1 +}}", ["a"])


def test_expression_must_give_a_non_empty_sequence():
    number = 3
    empty = []
    with pytest.raises(SubstitutionError, match="not a sequence"):
        Remote("run {{number}}", ["a"])
    with pytest.raises(SubstitutionError, match="empty"):
        Remote("run {{empty}}", ["a"])
    assert number == 3 and empty == []


def test_put_and_get_paths_are_substituted(tmp_path):
    from execo import Get, Put
    names = ["one", "two"]
    put = Put(["a", "b"], [str(tmp_path / "{{names}}.dat")], "/tmp/{{{host}}}/")
    get = Get(["a", "b"], ["/tmp/{{{host}}}/{{names}}.dat"], str(tmp_path / "{{{host}}}"))
    assert [p.cmd[-2:] for p in put.processes] == [
        [str(tmp_path / "one.dat"), "a:/tmp/a/"], [str(tmp_path / "two.dat"), "b:/tmp/b/"]]
    assert [p.cmd[-2:] for p in get.processes] == [
        ["a:/tmp/a/one.dat", str(tmp_path / "a")], ["b:/tmp/b/two.dat", str(tmp_path / "b")]]
    assert all(p.host is not None for p in put.processes + get.processes)
    assert isinstance(put, Action) and isinstance(put, Remote)
    assert os.path.basename(put.processes[0].cmd[0]) == "scp"


def test_action_ends_even_if_a_process_ended_before_the_action_started():
    action = Local("true")
    action.processes[0].run()
    assert action.start().wait(timeout=20).ended


def test_action_expect_without_backtrack_watches_all_processes_at_once():
    import sys
    code = "import sys; sys.stdin.readline(); print('ready', flush=True); sys.stdin.readline()"
    action = ParallelActions([Local([sys.executable, "-c", code]) for _ in range(3)]).start()
    # every process prints only after the write: none may be missed while
    # the first one is waited for
    threading.Timer(0.2, action.write, args=("go\n",)).start()
    results = action.expect("ready", timeout=30, backtrack=False)
    assert [index for _, index, _ in results] == [0, 0, 0]
    action.write("bye\n").wait()
    assert action.finished_ok


def test_shared_expect_handler_keeps_each_process_match():
    from execo import ExpectOutputHandler, Process
    shared = ExpectOutputHandler()
    first = Process("echo one").run()
    second = Process("echo two").run()
    assert second.expect("two", expect_output_handler=shared)[0] == 0
    assert first.expect("one", expect_output_handler=shared)[0] == 0


def test_factories_and_actions_resolve_expressions_in_the_callers_frame():
    # issue 13: no list of module names decides which frame is the caller's
    from execo import get_fileput, get_remote
    from execo.host_action import is_library_frame
    import sys
    words = ["alpha", "beta"]
    remote = get_remote("echo {{words}} {{{host}}}", ["a", "b"])
    assert [p.cmd for p in remote.processes] == ["echo alpha a", "echo beta b"]
    put = get_fileput(["a", "b"], ["/tmp/{{words}}"], "/dst")
    assert [p.cmd[-2] for p in put.processes] == ["/tmp/alpha", "/tmp/beta"]
    assert not is_library_frame(sys._getframe())


def test_run_of_an_action_already_started_refuses_and_kills_nothing():
    from execo.exception import ExecoValueError
    action = Local("sleep 30").start()
    try:
        with pytest.raises(ExecoValueError, match="already started"):
            action.run()
        assert action.processes[0].running and not action.processes[0].killed
    finally:
        action.kill().wait()


def test_run_interrupted_by_an_exception_kills_and_reraises():
    """The first wait raises, as a Ctrl-C would; run() kills, waits, re-raises."""
    action = Local("sleep 30")
    original_wait = action.wait
    calls = []

    class Stop(Exception):
        pass

    def wait(timeout=None):
        calls.append(timeout)
        if len(calls) == 1:
            raise Stop()
        return original_wait(timeout)

    action.wait = wait
    with pytest.raises(Stop):
        action.run()
    assert action.ended and action.processes[0].killed
    assert len(calls) == 2   # run()'s wait, then the kill's bounded one
