"""fork() after import: the child gets a conductor and a registry of its own,
and never touches the parent's processes.

The os.fork tests run in a fresh interpreter (a child of pytest itself
exiting normally would run pytest's exit hooks); the multiprocessing tests
fork (or spawn) this pytest process's workers, each running a Remote on the
loopback test bed.
"""

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap

import pytest

from execo import Process, Remote

pytestmark = pytest.mark.timeout(180)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(code, timeout=120):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO),
                          capture_output=True, text=True, timeout=timeout)


def last_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_forked_child_runs_processes_and_its_exit_spares_the_parents():
    result = run_script("""
        import json, os, sys
        from execo import Process
        parents = [Process("sleep 60").start() for _ in range(3)]
        pids = [p.pid for p in parents]  # spawned, registered, watched
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(read_end)
            p = Process("echo from the child").run(timeout=20)
            try:
                parents[0].wait(timeout=20)
                refusal = "waited"
            except RuntimeError as exc:
                refusal = str(exc)
            report = [p.ended, p.stdout, refusal]
            os.write(write_end, json.dumps(report).encode())
            os.close(write_end)
            sys.exit(0)  # a normal exit: atexit hooks run, execo's exit kill included
        os.close(write_end)
        with os.fdopen(read_end) as f:
            child_report = json.loads(f.read() or "null")
        _, status = os.waitpid(child, 0)
        # the child's exit must not have signalled them: none ends now
        still_running = [not p.wait(timeout=1).ended for p in parents]
        for p in parents:
            p.kill()
        ended = [p.wait(timeout=20).exit_code for p in parents]
        print(json.dumps([child_report, os.waitstatus_to_exitcode(status),
                          still_running, ended]))
    """)
    child_report, child_exit, still_running, ended = last_json(result)
    assert child_exit == 0
    ended_in_child, stdout, refusal = child_report
    assert [ended_in_child, stdout] == [True, "from the child\n"]
    # waiting in the child for the parent's process is refused, not a hang
    assert "fork" in refusal and "started by process" in refusal
    assert still_running == [True, True, True]
    assert ended == [-15, -15, -15]


def test_a_forked_child_never_signals_the_parents_process():
    result = run_script("""
        import json, os
        from execo import Process
        parent = Process("sleep 60").start()
        parent.pid
        child = os.fork()
        if child == 0:
            parent.kill()  # a copy of the parent's object: refused
            os._exit(0)
        os.waitpid(child, 0)
        alive = not parent.wait(timeout=1).ended
        parent.kill()
        print(json.dumps([alive, parent.wait(timeout=20).exit_code]))
    """)
    assert last_json(result) == [True, -15]


def _remote_in_worker(args):
    """Runs in a multiprocessing worker: a Remote on the test bed."""
    hosts, connection_params, label = args
    remote = Remote("echo %s {{{host}}}" % label, hosts,
                    connection_params=connection_params).run(timeout=60)
    local = Process("echo local").run(timeout=30)
    return ([p.stdout for p in remote.processes], remote.ok, local.stdout, os.getpid())


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_workers_each_run_a_remote(testbed, method):
    # the parent has a running conductor and a live child when it forks
    busy = Process("sleep 60").start()
    busy.pid
    try:
        context = multiprocessing.get_context(method)
        hosts = ["node-1", "node-2"]
        jobs = [(hosts, testbed.connection_params, "job%d" % i) for i in range(4)]
        with context.Pool(2) as pool:
            results = pool.map_async(_remote_in_worker, jobs).get(timeout=120)
        assert len({pid for *_, pid in results}) >= 1
        for (outputs, ok, local, pid), job in zip(results, jobs):
            assert ok, outputs
            assert outputs == ["%s %s\n" % (job[2], h) for h in hosts]
            assert local == "local\n"
            assert pid != os.getpid()
        # the workers' exits left the parent's process alone
        assert busy.running
        assert Remote("echo back", hosts).run(timeout=60).ok
    finally:
        busy.kill()
    assert busy.wait(timeout=20).exit_code == -15
