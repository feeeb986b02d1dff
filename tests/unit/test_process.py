"""Local Process behaviour, on real child processes."""

import os
import signal
import sys
import threading
import time

import pytest

from execo import Process, ProcessLifecycleHandler, ProcessOutputHandler, STDERR, STDOUT
from execo.config import configuration

PY = sys.executable


def py(code):
    """A Process argv running a python snippet (no shell quoting trouble)."""
    return [PY, "-c", code]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate, timeout=10.0):
    """Poll a condition that no event reports (another process's death)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_tutorial_local_process_example_runs_as_written():
    process = Process("ls /")
    process.run()
    text = "process:\n%s" + str(process)
    text += "process stdout:\n" + process.stdout()
    text += "process stderr:\n" + process.stderr()
    assert "bin" in process.stdout().split()
    assert process.exit_code == 0 and process.ok and process.finished_ok
    assert "ls /" in text


def test_stdout_is_both_a_string_and_a_callable():
    p = Process("echo hello").run()
    assert p.stdout == "hello\n"
    assert p.stdout() == "hello\n"
    assert p.stdout.strip() == "hello"
    assert isinstance(p.stdout, str)


def test_shell_true_expands_variables_and_pipes():
    p = Process("echo $EXECO_TEST_VAR | tr a-z A-Z", shell=True,
                env=dict(os.environ, EXECO_TEST_VAR="abc")).run()
    assert p.stdout == "ABC\n"


def test_command_as_list_is_not_split():
    p = Process(["echo", "a  b", "c"]).run()
    assert p.stdout == "a  b c\n"


def test_exit_code_is_the_real_status():
    p = Process("false", nolog_exit_code=True).run()
    assert p.exit_code == 1
    assert p.exit_signal is None
    assert not p.ok and not p.finished_ok
    p = Process(py("import sys; sys.exit(3)"), nolog_exit_code=True).run()
    assert p.exit_code == 3


def test_ignore_exit_code_keeps_process_ok():
    p = Process("find /nonexistent-dir-execo", ignore_exit_code=True).run()
    assert p.exit_code != 0
    assert p.ok and p.finished_ok


def test_non_zero_exit_logs_a_warning_unless_told_not_to(caplog_execo):
    Process("false").run()
    assert "'false': exit 1" in caplog_execo.text
    caplog_execo.clear()
    Process("false", nolog_exit_code=True).run()
    Process("false", ignore_exit_code=True).run()
    assert caplog_execo.text == ""


def test_signal_death_is_reported_distinctly():
    p = Process(py("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"),
                nolog_exit_code=True).run()
    assert p.exit_signal == signal.SIGSEGV
    assert p.exit_code == -signal.SIGSEGV
    assert not p.ok


def test_missing_executable_is_recorded_not_raised(caplog_execo):
    p = Process("/nonexistent/execo-no-such-binary arg").run()
    assert p.started and p.ended and p.error
    assert "No such file" in p.error_reason
    assert not p.ok
    assert p.exit_code is None
    assert "execo-no-such-binary" in caplog_execo.text


def test_bad_cwd_is_recorded_not_raised():
    p = Process("true", cwd="/nonexistent-execo-dir", nolog_error=True).run()
    assert p.error and "/nonexistent-execo-dir" in p.error_reason
    assert not p.ok


def test_ignore_error_keeps_process_ok():
    p = Process("/nonexistent/x", ignore_error=True).run()
    assert p.error and p.ok


def test_bad_arguments_raise_clear_errors_at_construction():
    with pytest.raises(TypeError):
        Process(42)
    with pytest.raises(ValueError):
        Process("true", timeout="soon")
    with pytest.raises(ValueError):
        Process("true", timeout=-1)
    with pytest.raises(TypeError):
        Process("true", env={"COUNT": 1})


def test_a_spawn_failing_in_an_unexpected_way_ends_the_process(caplog_execo):
    """Whatever the spawn raises, start()'s caller may not wait for it forever."""
    class Odd(Process):
        def _spawn_args(self):
            return ["true", 1]  # posix_spawn raises TypeError

    p = Odd("true").start()
    assert p.pid is None
    assert p.wait(10).ended and p.error and "expected str" in p.error_reason
    assert "unexpected failure spawning" in caplog_execo.text


def test_unbalanced_quotes_are_recorded_as_an_error():
    p = Process("echo 'unterminated", nolog_error=True).run()
    assert p.error and "cannot split" in p.error_reason


def test_wait_before_start_is_a_clear_error():
    with pytest.raises(ValueError, match="not started"):
        Process("true").wait()


def test_timeout_kills_and_records():
    p = Process("sleep 30", timeout=0.2, nolog_timeout=True).run()
    assert p.timeouted and p.killed and p.ended
    assert p.exit_signal == signal.SIGTERM
    assert not p.ok
    assert p.end_date - p.start_date < 10


def test_ignore_timeout_keeps_process_ok():
    p = Process("sleep 30", timeout=0.2, ignore_timeout=True).run()
    assert p.timeouted and p.ok


def test_timeout_given_as_string_duration():
    p = Process("sleep 30", timeout="0:0:0.2", nolog_timeout=True).run()
    assert p.timeouted


def test_sigterm_ignoring_child_gets_sigkill_after_kill_timeout(monkeypatch):
    monkeypatch.setitem(configuration, "kill_timeout", 0.3)
    p = Process(py("import signal, sys, time\n"
                   "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                   "print('ready', flush=True)\n"
                   "time.sleep(60)"))
    p.start()
    assert p.expect("ready", timeout=10)[0] == 0
    p.kill()
    p.wait(timeout=20)
    assert p.ended and p.forced_kill and p.killed
    assert p.exit_signal == signal.SIGKILL


def test_kill_without_escalation_leaves_sigterm_ignoring_child_alive(monkeypatch):
    monkeypatch.setitem(configuration, "kill_timeout", 0.1)
    p = Process(py("import signal, time\n"
                   "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                   "print('ready', flush=True)\n"
                   "time.sleep(60)"))
    p.start()
    p.expect("ready", timeout=10)
    p.kill(auto_force_kill_timeout=False)
    p.wait(timeout=0.5)
    assert not p.ended
    p.kill(signal.SIGKILL)
    p.wait()
    assert p.ended and not p.forced_kill


def test_kill_on_shell_kills_the_whole_process_tree():
    p = Process("sleep 60 & echo $!; sleep 60 | cat; wait", shell=True)
    p.start()
    p.expect(r"^\d+$", timeout=10)
    background_pid = int(p.stdout.split()[0])
    assert pid_alive(background_pid)
    p.kill().wait()
    assert p.killed and p.ended
    assert wait_until(lambda: not pid_alive(background_pid))


def test_kill_subprocesses_false_signals_only_the_process():
    p = Process("sleep 60 & echo $!; wait", shell=True, kill_subprocesses=False)
    p.start()
    p.expect(r"^\d+$", timeout=10)
    child = int(p.stdout.split()[0])
    p.kill().wait()
    try:
        assert pid_alive(child)
    finally:
        os.kill(child, signal.SIGKILL)


def test_killed_process_is_not_blamed_for_its_exit_code():
    p = Process("sleep 60").start()
    p.kill().wait()
    assert p.killed and p.exit_code == -signal.SIGTERM
    assert p.ok


def test_methods_chain():
    p = Process("sleep 60")
    assert p.start() is p
    assert p.kill() is p
    assert p.wait() is p
    assert p.reset() is p
    q = Process("true")
    assert q.run() is q


def test_context_manager_kills_on_exit():
    with Process("sleep 60").start() as p:
        pid = p.pid
        assert p.running
    p.wait()
    assert p.killed and not pid_alive(pid)


def test_reset_allows_a_second_run():
    p = Process("echo once").run()
    first_pid = p.pid
    p.reset()
    assert not p.started and not p.ended and p.stdout == "" and p.exit_code is None
    p.run()
    assert p.stdout == "once\n" and p.pid != first_pid


def test_start_twice_does_not_spawn_twice():
    p = Process("echo x").start()
    pid = p.pid
    p.start().wait()
    assert p.pid == pid and p.stdout == "x\n"


def test_write_to_stdin_and_close():
    p = Process("cat").start()
    p.write("hello\n").write(b"bytes\n")
    assert p.expect("bytes", timeout=10)[0] == 0
    p.close_stdin().wait()
    assert p.stdout == "hello\nbytes\n"
    assert p.ok


def test_write_to_an_ended_process_is_a_write_error():
    p = Process("true").run()
    p.nolog_write_error = True
    p.write("too late")
    assert p.write_error and not p.ok


def test_ignore_write_error():
    p = Process("true", ignore_write_error=True).run()
    p.write("x")
    assert p.write_error and p.ok


def test_expect_success_returns_index_and_match():
    p = Process(py("print('starting'); print('port=1234', flush=True); input()")).start()
    index, match = p.expect(["nothing like this", r"port=(\d+)"], timeout=10)
    assert index == 1 and match.group(1) == "1234"
    p.kill().wait()


def test_expect_timeout_returns_none_and_sets_expect_fail():
    p = Process("sleep 60").start()
    assert p.expect("never", timeout=0.2) == (None, None)
    assert p.expect_fail and not p.ok
    p.kill().wait()


def test_expect_at_eof_without_match_returns_none_without_waiting():
    p = Process("echo done", nolog_expect_fail=True).run()
    start = time.monotonic()
    assert p.expect("missing", timeout=30) == (None, None)
    assert time.monotonic() - start < 10


def test_expect_backtrack_searches_output_already_received():
    p = Process(py("print('early', flush=True); input(); print('late', flush=True)")).start()
    assert p.expect("early", timeout=10)[0] == 0
    results = []

    def other_thread():
        # this thread's first expect: "early" came before it started watching
        results.append(p.expect("early", timeout=10))
        p.write("go\n")
        results.append(p.expect("late", timeout=10))
    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(30)
    assert [index for index, _ in results] == [0, 0]
    p.wait()


def test_expect_without_backtrack_ignores_earlier_output():
    p = Process(py("print('early', flush=True); input(); print('late', flush=True); input()")).start()
    p.expect("early", timeout=10)

    def second_thread(out):
        out.append(p.expect("early", timeout=0.3, backtrack=False))
    out = []
    t = threading.Thread(target=second_thread, args=(out,))
    t.start()
    t.join(20)
    assert out == [(None, None)]
    p.kill().wait()


def test_successive_expects_consume_the_output():
    p = Process(py("for i in range(3): print('line', i)")).run()
    assert p.expect(r"line (\d)")[1].group(1) == "0"
    assert p.expect(r"line (\d)")[1].group(1) == "1"
    assert p.expect(r"line (\d)")[1].group(1) == "2"


def test_output_after_an_expect_stays_linear():
    """The expect watcher stays on the stream after its match (the next
    expect continues from there): output that nobody expects yet must not
    be concatenated chunk by chunk, which is quadratic."""
    command = "echo ready; head -c %d /dev/zero" % (128 * 1024 * 1024)
    start = time.monotonic()
    Process(command, shell=True).run()
    plain_time = time.monotonic() - start
    start = time.monotonic()
    watched = Process(command, shell=True).start()
    assert watched.expect("ready", timeout=30)[0] == 0
    watched.wait()
    watched_time = time.monotonic() - start
    assert watched.ok and len(watched.stdout_bytes) == 6 + 128 * 1024 * 1024
    # quadratic concatenation of ~150 chunks copies ~10 GiB: well over 10x
    assert watched_time < 6 * plain_time + 1


def test_expect_finds_a_match_spread_over_many_chunks():
    p = Process(py("import sys, time\n"
                   "for part in ('al', 'pha-', '12', '3\\n'):\n"
                   "    sys.stdout.write(part); sys.stdout.flush(); time.sleep(0.05)")).start()
    index, match = p.expect(r"alpha-(\d+)\n", timeout=30)
    assert index == 0 and match.group(1) == "123"
    p.wait()


def test_expect_on_stderr():
    p = Process(py("import sys; sys.stderr.write('oops 42\\n')")).run()
    assert p.expect(r"oops (\d+)", stream=STDERR)[1].group(1) == "42"


def test_pty_mode_gives_a_terminal():
    p = Process(py("import sys, os; print(sys.stdin.isatty(), sys.stdout.isatty(), "
                   "sys.stderr.isatty(), os.getsid(0) == os.getpid())"), pty=True).run()
    assert p.stdout.split() == ["True", "True", "False", "True"]
    assert p.ok


def test_pty_mode_write_and_read():
    p = Process(py("x = input(); print('got', x)"), pty=True).start()
    p.write("abc\n")
    p.wait(timeout=20)
    assert "got abc" in p.stdout


def test_output_without_trailing_newline():
    lines = []

    class Lines(ProcessOutputHandler):
        def read_line(self, process, stream, string):
            lines.append(string)
    p = Process(["printf", "a\nb\nno newline"], stdout_handlers=[Lines()]).run()
    assert p.stdout == "a\nb\nno newline"
    assert lines == ["a", "b", "no newline"]


def test_non_utf8_output_never_raises_and_keeps_raw_bytes():
    raw = b"ok \xff\xfe bad \xc3\xa9 end\n"
    p = Process(py("import sys; sys.stdout.buffer.write(%r)" % (raw,))).run()
    assert p.stdout_bytes == raw
    assert "\ufffd" in p.stdout and "\u00e9" in p.stdout
    assert p.ok


def test_output_read_while_running_then_more_arrives():
    """stdout_bytes handed out mid-run is a snapshot: later output neither
    changes it nor is lost from the next read."""
    p = Process(py("import sys; print('first', flush=True); sys.stdin.readline(); "
                   "print('second')")).start()
    # "first\n", not "first": under PYTHONUNBUFFERED (set on CI) print()
    # writes the text and its newline in two writes, and a bare "first" can
    # match before the newline has arrived.
    assert p.expect("first\n") != (None, None)
    snapshot = p.stdout_bytes
    text_snapshot = p.stdout
    assert snapshot == b"first\n" and text_snapshot == "first\n"
    p.write("go\n").wait()
    assert snapshot == b"first\n"
    assert p.stdout_bytes == b"first\nsecond\n"
    assert p.stdout == "first\nsecond\n" and p.stdout() == "first\nsecond\n"


def test_multibyte_character_split_between_chunks_is_decoded():
    got = []

    class Chunks(ProcessOutputHandler):
        def read(self, process, stream, string, eof, error):
            got.append(string)
    code = ("import sys, time\n"
            "sys.stdout.buffer.write(b'\\xc3'); sys.stdout.flush(); time.sleep(0.2)\n"
            "sys.stdout.buffer.write(b'\\xa9\\n')")
    p = Process(py(code), stdout_handlers=[Chunks()]).run()
    assert "".join(got) == "\u00e9\n"
    assert p.stdout == "\u00e9\n"


def test_handlers_file_path_file_object_and_fd(tmp_path):
    path = str(tmp_path / "out.txt")
    with open(tmp_path / "obj.txt", "w") as file_object, \
            open(tmp_path / "fd.txt", "wb") as fd_file:
        Process("echo hi", stdout_handlers=[path, file_object, fd_file.fileno()]).run()
    assert (tmp_path / "out.txt").read_text() == "hi\n"
    assert (tmp_path / "obj.txt").read_text() == "hi\n"
    assert (tmp_path / "fd.txt").read_text() == "hi\n"


def test_many_processes_append_to_the_same_file_path(tmp_path):
    path = str(tmp_path / "all.txt")
    ps = [Process(["echo", str(i)], stdout_handlers=[path]).start() for i in range(20)]
    for p in ps:
        p.wait()
    assert sorted(int(x) for x in open(path).read().split()) == list(range(20))


def test_no_capture_keeps_nothing_in_memory_but_feeds_handlers():
    count = []

    class Counter(ProcessOutputHandler):
        def read(self, process, stream, string, eof, error):
            count.append(len(string))
    p = Process("head -c 1000000 /dev/zero", default_stdout_handler=False,
                stdout_handlers=[Counter()]).run()
    assert p.stdout == "" and p.stdout_bytes == b""
    assert sum(count) == 1000000


def test_lifecycle_handlers_called_from_the_conductor_thread():
    events = []

    class Recorder(ProcessLifecycleHandler):
        def start(self, process):
            events.append(("start", threading.current_thread().name))

        def end(self, process):
            events.append(("end", process.exit_code))

        def reset(self, process):
            events.append(("reset",))
    p = Process("true", lifecycle_handlers=[Recorder()]).run()
    p.reset()
    assert events == [("start", "execo-conductor"), ("end", 0), ("reset",)]


def test_end_handler_runs_before_wait_returns():
    seen = []

    class Recorder(ProcessLifecycleHandler):
        def end(self, process):
            seen.append(process.stdout)
    Process("echo x", lifecycle_handlers=[Recorder()]).run()
    assert seen == ["x\n"]


def test_raising_handler_is_logged_and_the_conductor_survives(caplog_execo):
    class Broken(ProcessOutputHandler):
        def read_line(self, process, stream, string):
            raise RuntimeError("handler bug")

    class BrokenLifecycle(ProcessLifecycleHandler):
        def end(self, process):
            raise RuntimeError("lifecycle bug")
    p = Process("echo x", stdout_handlers=[Broken()], lifecycle_handlers=[BrokenLifecycle()]).run()
    assert p.ended and p.stdout == "x\n"
    assert "handler bug" in caplog_execo.text and "lifecycle bug" in caplog_execo.text
    assert "Traceback" in caplog_execo.text
    assert Process("echo still alive").run().stdout == "still alive\n"


def test_output_written_just_before_exit_is_never_lost():
    for _ in range(50):
        p = Process(py("import os; os.write(1, b'x' * 200000); os._exit(0)")).run()
        assert len(p.stdout_bytes) == 200000


def test_grandchild_holding_the_pipe_does_not_delay_the_end():
    p = Process("echo before; sleep 30 & echo after", shell=True).start()
    p.wait(timeout=20)
    assert p.ended
    assert p.stdout == "before\nafter\n"
    assert p.end_date - p.start_date < 20


def test_stats_counts():
    s = Process("false", nolog_exit_code=True).run().stats()
    assert s["num_processes"] == 1 and s["num_ended"] == 1
    assert s["num_non_zero_exit_codes"] == 1 and s["num_ok"] == 0
    s = Process("true").run().stats()
    assert s["num_finished_ok"] == 1


def test_str_repr_and_dump_are_readable():
    p = Process("echo hi", timeout=10, ignore_exit_code=True).run()
    assert repr(p) == "Process('echo hi', timeout=10.0, ignore_exit_code=True)"
    assert "exit_code=0" in str(p) and "pid=%d" % p.pid in str(p)
    assert "hi" in p.dump()


def test_dump_compacts_long_output(monkeypatch):
    monkeypatch.setitem(configuration, "compact_output_threshold", 100)
    p = Process("seq 1 10000").run()
    assert "[...]" in p.dump() and len(p.dump()) < 1000


def test_expect_after_reset_starts_afresh():
    p = Process("echo first").run()
    assert p.expect("first")[0] == 0
    p.reset()
    assert p.stdout_handlers == []
    p.run()
    assert p.expect("first")[0] == 0


def test_log_level_follows_the_configuration_at_run_time(caplog_execo, monkeypatch):
    monkeypatch.setitem(configuration, "log_level", 40)
    Process("false").run()
    assert caplog_execo.text == ""
    configuration["log_level"] = 30
    Process("false").run()
    assert "'false': exit 1" in caplog_execo.text


def test_executable_moved_along_path_is_found_again(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    script = first / "execo-moving-program"
    script.write_text("#!/bin/sh\necho from $0\n")
    script.chmod(0o755)
    env = dict(os.environ, PATH="%s:%s:/usr/bin:/bin" % (first, second))
    assert Process("execo-moving-program", env=env).run().stdout == "from %s\n" % script
    script.rename(second / script.name)
    p = Process("execo-moving-program", env=env).run()
    assert p.stdout == "from %s\n" % (second / script.name)
    (second / script.name).unlink()
    p = Process("execo-moving-program", env=env, nolog_error=True).run()
    assert p.error and "No such file" in p.error_reason


def test_program_installed_after_a_miss_is_found(tmp_path):
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % tmp_path)
    p = Process("execo-late-program", env=env, nolog_error=True).run()
    assert p.error
    script = tmp_path / "execo-late-program"
    script.write_text("#!/bin/sh\necho late\n")
    script.chmod(0o755)
    assert Process("execo-late-program", env=env).run().stdout == "late\n"


def test_children_see_changes_made_to_os_environ(monkeypatch):
    monkeypatch.setenv("EXECO_TEST_LATE_VAR", "first")
    assert Process("printenv EXECO_TEST_LATE_VAR").run().stdout == "first\n"
    monkeypatch.setenv("EXECO_TEST_LATE_VAR", "second")
    assert Process("printenv EXECO_TEST_LATE_VAR").run().stdout == "second\n"
    monkeypatch.delenv("EXECO_TEST_LATE_VAR")
    assert Process("printenv EXECO_TEST_LATE_VAR", nolog_exit_code=True).run().exit_code == 1
