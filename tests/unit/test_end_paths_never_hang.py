"""Nothing the library does while a process or an action ends can leave a
waiter asleep or kill the conductor: a logging setup that raises, an
output handler that raises, ClusterShell missing.

The scripts that break logging or hide ClusterShell run in a fresh
interpreter: the conductor and the import system are process-wide.
"""

import json

import pytest

from execo import Process, ProcessOutputHandler
from tests.unit.test_conductor import run_script


def last_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# a filter on execo's logger, or a handler of the program's own whose emit
# raises: logging lets both raise into the caller
BROKEN_LOGGING = {
    "filter": """
        class Broken(logging.Filter):
            def filter(self, record):
                raise RuntimeError("filter bug")
        logging.getLogger("execo").addFilter(Broken())
    """,
    "emit": """
        class Broken(logging.Handler):
            def emit(self, record):
                raise RuntimeError("handler bug")
        logging.getLogger().addHandler(Broken())
    """,
}


@pytest.mark.parametrize("broken", sorted(BROKEN_LOGGING))
def test_a_raising_log_setup_neither_hangs_an_action_nor_kills_the_conductor(broken):
    result = run_script("""
        import json, logging
        from execo import Local, Process
        %s
        # a failure is logged as the process ends, in the conductor thread
        failed = Local("exit 3", shell=True).run(timeout=20)
        after = Process("echo after").run(timeout=20)
        print(json.dumps([failed.ended, failed.processes[0].exit_code, after.stdout]))
    """ % BROKEN_LOGGING[broken], timeout=90)
    assert last_json(result) == [True, 3, "after\n"]
    # said once, on stderr, and the script went on
    assert result.stderr.count("a log record could not be logged") == 1


NO_CLUSTERSHELL = """
    import json, sys

    class NoClusterShell:
        # this interpreter cannot import ClusterShell, as a frontend's
        # system python running execo from a checkout
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "ClusterShell":
                raise ImportError("No module named %r" % (name,))
            return None
    sys.meta_path.insert(0, NoClusterShell())

    from execo import Process, SequentialActions
    from execo.host_action import HostCommand

    class LocalExec(HostCommand):
        # each host's command runs here: hosts without ssh
        def _new_process(self, cmd, host, args):
            process = Process(cmd, shell=True, **args)
            process.host = host
            return process

    failing = LocalExec("exit 1", ["n1", "n2", "n3"])
    after = LocalExec("echo after", ["n4"])
    SequentialActions([failing, after]).run(timeout=20)
    print(json.dumps([failing.ended, after.ended, after.processes[0].stdout,
                      "ClusterShell" in sys.modules]))
"""


def test_an_action_over_hosts_ends_without_clustershell():
    result = run_script(NO_CLUSTERSHELL, timeout=90)
    assert last_json(result) == [True, True, "after\n", False]
    # the summary lists the hosts as they are, and says why, once
    assert "exit 1 on 3 (n1,n2,n3)" in result.stderr
    assert result.stderr.count("ClusterShell cannot be imported") == 1


class _Raising(ProcessOutputHandler):
    def read_line(self, process, stream, line):
        raise ValueError("line handler bug")


class _Counting(ProcessOutputHandler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def read_line(self, process, stream, line):
        self.lines.append(line)


def test_a_raising_line_handler_costs_the_others_no_line(caplog_execo):
    counter = _Counting()
    process = Process("seq 50", stdout_handlers=[_Raising(), counter]).run(timeout=30)
    assert process.ended and process.stdout.split() == [str(i) for i in range(1, 51)]
    assert counter.lines == [str(i) for i in range(1, 51)]
    # said once for the handler, not once per line
    assert caplog_execo.text.count("ValueError: line handler bug") == 1
