"""execo 2.x-style scripts run here and under execo 2.8.2, on the same
loopback test bed, and print the same thing, but for the differences
doc/migrating.rst documents (each asserted here as a difference).

Each script is written as a 2.x user wrote them: imports from the 2.x
submodules, ``connection_params`` dicts, ``{{{host}}}`` substitutions,
`Report`. It prints one JSON document on its last line; the test bed's
ssh config reaches both versions through ``default_connection_params``
(appended to 2.x's own ssh options, so that 2.x keeps its ``-tt``).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.old_execo import old_execo_python

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PRELUDE = textwrap.dedent('''
    import json, sys
    from execo.config import default_connection_params
    _cfg = json.loads(sys.argv[1])
    for _key in ('ssh_options', 'scp_options', 'taktuk_connector_options'):
        default_connection_params[_key] = tuple(default_connection_params[_key]) + (
            '-F', _cfg['ssh_config'])
    hosts = _cfg['hosts']
    workdir = _cfg['workdir']
''')

LOCAL_PROCESSES = '''
from execo.process import Process, SshProcess, ProcessOutputHandler
from execo.time_utils import timedelta_to_seconds, get_seconds, format_seconds
from execo.utils import comma_join, singleton_to_collection, name_from_cmdline
from execo.log import style
import datetime

class Lines(ProcessOutputHandler):
    def __init__(self):
        super(Lines, self).__init__()
        self.lines = []
    def read_line(self, process, stream, string):
        self.lines.append(string.rstrip("\\n"))

lines = Lines()
p = Process("printf 'a\\\\nb\\\\n'; exit 3", shell=True, stdout_handlers=[lines],
            nolog_exit_code=True).run()
q = Process("echo ok").run()
out = {
    "stdout": p.stdout, "handled": lines.lines, "ok": p.ok, "finished_ok": p.finished_ok,
    "exit_code": p.exit_code, "q": [q.stdout, q.ok, q.exit_code],
    "seconds": [timedelta_to_seconds(datetime.timedelta(hours=1)), get_seconds("1:30:00")],
    "join": comma_join("a", "", "b"), "coll": singleton_to_collection("x"),
    "name": name_from_cmdline(["echo", "a b"]),
}
print(json.dumps(out))
'''

REMOTE_ACTIONS = '''
import os
from execo.action import Remote, Put, Get, ActionFactory, SequentialActions
from execo.host import Host
from execo.report import Report
from execo.config import SCP, SSH
factory = ActionFactory(remote_tool=SSH, fileput_tool=SCP, fileget_tool=SCP)
src = os.path.join(workdir, "data.txt")
with open(src, "w") as f:
    f.write("payload\\n")
put = factory.get_fileput(hosts, [src], remote_location=os.path.join(workdir, "put-{{{host}}}"))
run = Remote("mkdir -p %s/put-{{{host}}}; cat %s/put-{{{host}}}/data.txt; echo {{{host}}}"
             % (workdir, workdir), hosts)
for h in hosts:
    os.makedirs(os.path.join(workdir, "put-" + h), exist_ok=True)
seq = SequentialActions([put, run]).run()
get = factory.get_fileget([Host(hosts[0])], [os.path.join(workdir, "put-" + hosts[0], "data.txt")],
                          local_location=os.path.join(workdir, "got")) 
os.makedirs(os.path.join(workdir, "got"), exist_ok=True)
get.run()
failing = Remote("exit 2", hosts[:1], process_args={"nolog_exit_code": True}).run()
report = Report([seq, get])
out = {
    "seq_ok": seq.ok, "put_ok": put.ok, "get_ok": get.ok,
    "stdout": sorted(p.stdout for p in run.processes),
    "got": open(os.path.join(workdir, "got", "data.txt")).read(),
    "failing_ok": failing.ok, "failing_exit": failing.processes[0].exit_code,
    "report_ok": report.stats()["num_ok"] == report.stats()["num_processes"],
}
print(json.dumps(out))
'''

EXPECT_WRITE = '''
from execo.process import SshProcess, Process
p = SshProcess("read a; echo got $a; read b; echo got $b", hosts[0]).start()
p.write("one\\n")
first = p.expect(r"got (\\w+)")[1]
p.write("two\\n")
second = p.expect(r"got (\\w+)")[1]
p.wait()
out = {"first": first.group(1), "second": second.group(1), "ok": p.ok,
       "stdout": p.stdout}
print(json.dumps(out))
'''

LIFECYCLE = '''
from execo import (Local, ParallelActions, ProcessLifecycleHandler, Remote, Timer,
                   default_action_factory, get_remote, wait_all_actions, wait_any_actions)
from execo.action import ActionLifecycleHandler

class Events(ProcessLifecycleHandler):
    def __init__(self):
        super(Events, self).__init__()
        self.seen = []
    def start(self, process):
        self.seen.append("start")
    def end(self, process):
        self.seen.append("end %s" % process.ok)

class ActionEvents(ActionLifecycleHandler):
    def __init__(self):
        super(ActionEvents, self).__init__()
        self.seen = []
    def end(self, action):
        self.seen.append("end %s" % action.ok)

events, action_events = Events(), ActionEvents()
local = Local("echo local", process_args={"lifecycle_handlers": [events]})
remote = get_remote("echo {{{host}}}", hosts[:2], lifecycle_handlers=[action_events])
fast = default_action_factory.get_remote("true", hosts[:1])
slow = Remote("sleep 1", hosts[:1])
both = ParallelActions([local, remote]).start()
first = wait_any_actions([fast.start(), slow.start()], timeout=30)
wait_all_actions([both, slow], timeout=30)
timer = Timer()
out = {
    "events": events.seen, "action_events": action_events.seen,
    "local": local.processes[0].stdout, "remote_ok": remote.ok, "both_ok": both.ok,
    "first_is_fast": first[0] is fast if isinstance(first, list) else first is fast,
    "slow_ended": slow.ended, "names": [local.name, remote.name],
    "timer": timer.remaining() is None and timer.elapsed() < 5,
    "remote_stdout": sorted(p.stdout.strip() for p in remote.processes),
}
print(json.dumps(out))
'''


def _run(python, script, cfg, extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra_env)
    done = subprocess.run([python, "-c", PRELUDE + script, json.dumps(cfg)],
                          capture_output=True, text=True, env=env, cwd="/", timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def both(testbed, tmp_path):
    """``run(script)`` -> (ours, 2.8.2's), each in its own work directory."""
    def run(script):
        results = []
        for name, python, env in (("here", sys.executable, {"PYTHONPATH": REPO}),
                                  ("old", old_execo_python(), {})):
            workdir = tmp_path / name
            workdir.mkdir()
            cfg = {"ssh_config": testbed.ssh_config, "hosts": testbed.hosts[:3],
                   "workdir": str(workdir)}
            results.append(_run(python, script, cfg, env))
        return results
    return run


def test_local_processes_script(both):
    ours, old = both(LOCAL_PROCESSES)
    # documented: real exit codes here, 2.x reported the raw wait status
    assert ours.pop("exit_code") == 3 and old.pop("exit_code") == 3 << 8
    assert ours == old


def test_remote_actions_script(both):
    ours, old = both(REMOTE_ACTIONS)
    # documented: no pty by default here; 2.x's ssh -tt ended remote lines with \r\n
    assert old["stdout"] == [s.replace("\n", "\r\n") for s in ours["stdout"]]
    ours.pop("stdout"), old.pop("stdout")
    # documented: real exit codes (2.x ran through a pty: ssh's status is the command's)
    assert ours.pop("failing_exit") == 2 and old.pop("failing_exit") == 2 << 8
    assert ours == old


def test_expect_and_write_script(both):
    ours, old = both(EXPECT_WRITE)
    # documented: 2.x's pty echoed what was written and ended lines with \r\n
    assert ours.pop("stdout") == "got one\ngot two\n"
    assert "got two\r\n" in old.pop("stdout")
    assert ours == old


def test_lifecycle_handlers_groups_and_waits_script(both):
    ours, old = both(LIFECYCLE)
    assert ours["events"] == ["start", "end True"] and ours["both_ok"], ours
    assert ours["remote_stdout"] == ["node-1", "node-2"] and ours["first_is_fast"], ours
    assert ours == old
