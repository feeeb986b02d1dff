"""The conductor under load: leaks, concurrency, sleeping, fallbacks."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from execo import Process, ProcessLifecycleHandler, ProcessOutputHandler
from execo.conductor import get_conductor

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def zombie_children():
    """Pids of our children that are zombies (exited, never reaped)."""
    me = str(os.getpid())
    zombies = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == me and fields[0] == "Z":
            zombies.append(int(entry))
    return zombies


def run_script(code, env=None, timeout=120):
    """Run a python script using execo in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO, **(env or {})),
                          capture_output=True, text=True, timeout=timeout)


def test_ten_thousand_short_processes_leave_no_fd_and_no_zombie():
    Process("true").run()  # the conductor's own fds exist before we count
    before = open_fds()
    batch = 500
    for _ in range(10000 // batch):
        processes = [Process("true").start() for _ in range(batch)]
        for p in processes:
            p.wait()
        assert all(p.exit_code == 0 for p in processes)
    assert open_fds() == before
    assert zombie_children() == []


def test_eight_threads_start_and_wait_two_hundred_processes_each():
    results = {}

    def worker(n):
        processes = [Process(["echo", str(n), str(i)]).start() for i in range(200)]
        for p in processes:
            p.wait()
        results[n] = [p.stdout for p in processes]
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == list(range(8))
    for n, outputs in results.items():
        assert outputs == ["%d %d\n" % (n, i) for i in range(200)]


def test_conductor_does_not_wake_while_a_thousand_children_sleep():
    conductor = get_conductor()
    processes = [Process(["sleep", "60"]).start() for _ in range(1000)]
    # Wait until every child has been attached, then count iterations over a
    # quiet second: no output, no exit, no timer is due.
    marker = Process("true").run()
    assert marker.ok
    before = conductor.iterations
    time.sleep(1.0)  # the absence of events is what is measured here
    during_sleep = conductor.iterations - before
    for p in processes:
        p.kill()
    for p in processes:
        p.wait()
    assert during_sleep == 0


def test_a_conductor_that_never_sleeps_would_be_caught():
    """The measure above is able to see wake-ups: a timer makes one."""
    conductor = get_conductor()
    before = conductor.iterations
    done = threading.Event()
    conductor.call_later(0.05, done.set)
    assert done.wait(5)
    assert conductor.iterations - before >= 1


def test_an_fd_closed_and_reused_within_one_batch_gets_no_stale_event():
    """Two readable pipes come back from one select(); whichever callback
    runs first closes the other pipe and opens a new one, which takes the
    closed fd's number. The stale event of the closed pipe must not run its
    old callback (it would read the new pipe's data)."""
    conductor = get_conductor()
    first_r, first_w = os.pipe()
    second_r, second_w = os.pipe()
    ran = []
    replacements = []
    done = threading.Event()

    def make_callback(me, other):
        def callback():
            ran.append(me)
            conductor.unwatch_fd(other)
            os.close(other)
            new_r, new_w = os.pipe()  # the lowest free number: ``other``'s
            replacements.append((new_r, new_w))
            conductor.watch_fd(new_r, lambda: None)
            conductor.unwatch_fd(me)
            conductor.call_soon(done.set)
        return callback

    def setup():
        conductor.watch_fd(first_r, make_callback(first_r, second_r))
        conductor.watch_fd(second_r, make_callback(second_r, first_r))
        os.write(first_w, b"x")
        os.write(second_w, b"x")  # both readable before the next select()
    conductor.call_soon(setup)
    assert done.wait(10)
    assert len(ran) == 1, ran
    assert replacements[0][0] in (first_r, second_r)
    survivor = ran[0]
    conductor.call_soon(conductor.unwatch_fd, replacements[0][0])
    flushed = threading.Event()
    conductor.call_soon(flushed.set)
    assert flushed.wait(10)
    for fd in (survivor, first_w, second_w) + replacements[0]:
        os.close(fd)


def test_a_chatty_child_gets_a_larger_pipe_and_loses_no_byte():
    """A child that fills its 64 KiB pipe faster than we read gets a grown
    pipe, which it can see on its own stdout."""
    script = textwrap.dedent("""
        import fcntl, os, sys
        block = bytes(range(256)) * 4096  # 1 MiB, a pattern that shows reordering
        for _ in range(32):
            sys.stdout.buffer.write(block)
        sys.stdout.flush()
        sys.stderr.write("%d" % fcntl.fcntl(1, 1032))  # F_GETPIPE_SZ
    """)
    process = Process([sys.executable, "-c", script]).run()
    assert process.ok, process.dump()
    assert process.stdout_bytes == bytes(range(256)) * 4096 * 32
    assert int(process.stderr) == 1 << 20


def test_one_hundred_mib_line_without_newline_is_linear():
    lines = []

    class LastLine(ProcessOutputHandler):
        def read_line(self, process, stream, string):
            lines.append(len(string))
    size = 100 * 1024 * 1024
    start = time.monotonic()
    plain = Process(["head", "-c", str(size), "/dev/zero"]).run()
    plain_time = time.monotonic() - start
    start = time.monotonic()
    split = Process(["head", "-c", str(size), "/dev/zero"], default_stdout_handler=False,
                    stdout_handlers=[LastLine()]).run()
    split_time = time.monotonic() - start
    assert len(plain.stdout_bytes) == size and plain.ok and split.ok
    assert lines == [size]
    # quadratic concatenation of 400 chunks would be ~100x slower
    assert split_time < 10 * plain_time + 1


def test_a_burst_of_starts_is_interleaved_with_the_exits_it_causes():
    """start() only queues the spawn; the conductor spawns in slices and
    handles the exits in between, so that a burst does not keep every
    child's descriptors open until the last one is spawned."""
    alive = [0, 0]  # now, most at once; both touched in the conductor thread only

    class Count(ProcessLifecycleHandler):
        def start(self, process):
            alive[0] += 1
            alive[1] = max(alive)

        def end(self, process):
            alive[0] -= 1

    count = Count()
    processes = [Process("true", lifecycle_handlers=[count]).start() for _ in range(2000)]
    for process in processes:
        process.wait(60)
    assert all(p.ended and p.exit_code == 0 for p in processes)
    assert alive[0] == 0
    assert alive[1] < 1000, "%d children at once: exits waited for the whole burst" % alive[1]


def test_pid_kill_and_write_right_after_start_wait_for_the_spawn():
    sleeper = Process("sleep 30").start().kill()
    assert sleeper.wait(10).ended and sleeper.killed and sleeper.exit_signal is not None
    echo = Process("cat").start().write("queued\n").close_stdin().wait(10)
    assert echo.stdout == "queued\n" and echo.ok
    p = Process("sleep 30").start()
    assert isinstance(p.pid, int) and p.pid > 0
    p.kill().wait(10)
    assert Process("true").pid is None  # never started


def test_a_conductor_callback_may_start_a_process_and_read_its_pid():
    """The spawn it queues comes after the callback in the conductor's
    queue: reading pid there spawns it at once instead of waiting forever."""
    seen = []

    class StartAnother(ProcessLifecycleHandler):
        def end(self, process):
            other = Process("echo other").start()
            seen.append((other, other.pid))

    Process("true", lifecycle_handlers=[StartAnother()]).run(10)
    assert seen
    other, pid = seen[0]
    assert other.wait(10).ok and other.stdout == "other\n"
    assert isinstance(pid, int) and pid > 0


def survivors_of(marker):
    """Pids of the ``sleep MARKER`` processes still alive, wherever they are."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    if f.read() == b"sleep\0" + marker.encode() + b"\0":
                        found.append(int(entry))
            except OSError:
                pass
    return found


def assert_no_survivor(marker):
    """The script has exited: only the pids are left to watch, by polling."""
    deadline = time.monotonic() + 10
    while survivors_of(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = survivors_of(marker)
    for pid in left:
        os.kill(pid, 9)
    assert not left, "%d children outlived their script" % len(left)


def test_children_queued_at_interpreter_exit_are_not_left_behind():
    """At exit, the children already spawned are killed, and those still
    queued must not be spawned behind that kill's back: a first child that
    ignores SIGTERM keeps the exit busy for a second while they could be."""
    marker = "2999.%d" % os.getpid()
    result = run_script("""
        from execo import Process
        stubborn = Process(["sh", "-c", "trap '' TERM; exec sleep %s"]).start()
        stubborn.pid  # spawned, before the others are queued
        processes = [Process(["sleep", "%s"]).start() for _ in range(300)]
        print("queued", flush=True)
    """ % (marker, marker))
    assert "queued" in result.stdout, result.stderr
    assert_no_survivor(marker)


def test_processes_started_while_the_interpreter_exits_are_not_left_behind():
    """A daemon thread still starting processes while the interpreter ends:
    those spawned before the exit's kill are killed, those asked for after it
    are never spawned (spawning then killing could leave a child behind, if
    the interpreter ended in between), with one warning for them all, and
    none is left behind.
    The race it guards against is narrow: several scripts widen the net."""
    marker = "2998.%d" % os.getpid()
    scripts = [subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import threading
        from execo import Process

        started = threading.Event()

        def keep_starting():
            while True:
                Process(["sleep", "%s"]).start()
                started.set()

        threading.Thread(target=keep_starting, daemon=True).start()
        started.wait()
        print("exiting", flush=True)
    """ % marker)], cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(6)]
    for script in scripts:
        out, err = script.communicate(timeout=120)
        assert "exiting" in out, err
        assert err.count("not started") <= 1, err  # said once, not once per process
    assert_no_survivor(marker)


def test_a_process_run_after_the_exit_kill_is_refused_and_said_so():
    """An atexit handler registered before execo was imported runs after
    execo's kill: its process is not spawned, and a warning says why."""
    result = run_script("""
        import atexit

        def late_cleanup():
            p = Process("echo cleanup").run()
            print("ended=%s error=%s reason=%s" % (p.ended, p.error, p.error_reason), flush=True)

        atexit.register(late_cleanup)
        from execo import Process
    """)
    assert "ended=True error=True reason=not started: the interpreter is exiting" in result.stdout
    assert "not started, nor any process after it" in result.stderr
    assert "cleanup\n" not in result.stdout


def test_children_still_running_are_killed_at_interpreter_exit():
    result = run_script("""
        from execo import Process
        p = Process("sleep 300").start()
        print(p.pid, flush=True)
    """)
    pid = int(result.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)  # the script has exited: nothing to wait on but the pid
    else:
        os.kill(pid, 9)
        pytest.fail("child %d survived the script's exit" % pid)


def test_kill_childs_at_end_false_leaves_children_running():
    result = run_script("""
        from execo import Process, configuration
        configuration['kill_childs_at_end'] = False
        p = Process("sleep 300").start()
        print(p.pid, flush=True)
    """)
    pid = int(result.stdout.split()[0])
    try:
        os.kill(pid, 0)
    finally:
        os.kill(pid, 9)


def test_sigchld_fallback_without_pidfd_works():
    result = run_script("""
        from execo import Process
        from execo.conductor import get_conductor
        assert not get_conductor().use_pidfd
        ps = [Process(["echo", str(i)]).start() for i in range(200)]
        for p in ps:
            p.wait()
        assert [p.stdout for p in ps] == ["%d\\n" % i for i in range(200)]
        p = Process("sleep 30", timeout=0.2, nolog_timeout=True).run()
        assert p.timeouted
        print("fallback ok")
    """, env={"EXECO_DISABLE_PIDFD": "1"})
    assert "fallback ok" in result.stdout, result.stderr


def test_configuration_file_is_merged(tmp_path):
    (tmp_path / ".execo.conf.py").write_text(
        "configuration = {'kill_timeout': 42}\n"
        "default_connexion_params = {'user': 'someone'}\n")
    result = run_script("""
        from execo import configuration, default_connection_params
        print(configuration['kill_timeout'], default_connection_params['user'],
              configuration['compact_output_threshold'])
    """, env={"HOME": str(tmp_path)})
    assert result.stdout.split() == ["42", "someone", "4096"]


def test_broken_configuration_file_is_reported_and_ignored(tmp_path):
    (tmp_path / ".execo.conf.py").write_text("configuration = {\n")
    result = run_script("""
        from execo import configuration
        print(configuration['kill_timeout'])
    """, env={"HOME": str(tmp_path)})
    assert result.returncode == 0
    assert "ignoring configuration file" in result.stderr


def _context_switches(pid):
    with open("/proc/%d/status" % pid) as f:
        return sum(int(line.split()[1]) for line in f
                   if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))


def test_the_exit_watchdog_sleeps_while_the_script_runs():
    """It blocks in read() on its pipe: no periodic wake-up either."""
    from execo.exit_watchdog import watchdog_pid
    sleeper = Process("sleep 60").start()
    assert Process("true").run().ok  # both told to the watchdog before the conductor slept
    pid = watchdog_pid()
    time.sleep(0.2)  # let it finish reading those lines
    before = _context_switches(pid)
    time.sleep(1.0)  # the absence of events is what is measured here
    during_sleep = _context_switches(pid) - before
    sleeper.kill().wait()
    assert during_sleep == 0


def test_the_exit_watchdog_is_not_woken_for_each_child():
    """Waking a second process at each spawn and at each end cost a short
    process's round trip about 10 %: the watchdog is asked to read what it
    was told only every 16 KiB of it."""
    from execo.exit_watchdog import watchdog_pid
    assert Process("true").run().ok
    pid = watchdog_pid()
    before = _context_switches(pid)
    for _ in range(200):
        assert Process("true").run().ok
    assert _context_switches(pid) - before < 20
