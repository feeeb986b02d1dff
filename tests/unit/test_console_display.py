"""What IPython and Jupyter show for an evaluated process, action, report.

IPython calls ``_repr_pretty_(printer, cycle)`` and writes what the object
gives ``printer.text``; Jupyter renders ``_repr_html_()``. Both are checked
through that protocol with a minimal printer, and in a real IPython session.
"""

import os
import subprocess
import sys

import pytest

from execo import Local, ParallelActions, Process, Report
from execo.report import from_dict

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Printer:
    """The one method of IPython's pretty printer that the objects use."""

    def __init__(self):
        self.output = ""

    def text(self, text):
        self.output += text


def shown(obj, cycle=False):
    printer = Printer()
    obj._repr_pretty_(printer, cycle)
    return printer.output


def test_an_evaluated_process_shows_its_state():
    p = Process("exit 3", shell=True, nolog_exit_code=True).run()
    text = shown(p)
    assert text == str(p)
    assert "ended=True" in text and "exit_code=3" in text and "ok=False" in text
    assert shown(p, cycle=True) == repr(p)


def test_an_evaluated_action_shows_its_counters():
    action = Local("true").run()
    assert "num_finished_ok=1" in shown(action) and "ok=True" in shown(action)


def test_a_report_shows_its_table_and_an_html_table():
    report = Report([Local("echo hi").run(),
                     ParallelActions([Local("exit 1", shell=True, nolog_exit_code=True)]).run()])
    assert shown(report) == report.to_string().rstrip("\n")
    page = report._repr_html_()
    assert page.startswith("<table><thead><tr><th>name</th><th>duration</th>")
    assert page.count("<tr") == 5  # header, 3 entries, total
    assert page.count('class="execo-failed"') == 3
    assert "<td>1 exit!=0</td>" in page


def test_html_escapes_names():
    action = Local("true", name="<b>&").run()
    assert "<td>&lt;b&gt;&amp;</td>" in Report([action])._repr_html_()


def test_loaded_results_show_themselves():
    data = Local("exit 2", shell=True, nolog_exit_code=True).run().to_dict()
    loaded = from_dict(data)
    assert shown(loaded) == "<loaded Local('exit 2', 1 processes, 1 failed, ok=False)>"
    assert shown(loaded.processes[0]) == \
        "<loaded Process('exit 2' on localhost, ok=False, exit_code=2, exit 2)>"


def test_ipython_pretty_printer_uses_them():
    pretty = pytest.importorskip("IPython.lib.pretty")  # in the Makefile's test-deps
    p = Process("true").run()
    assert pretty.pretty(p) == str(p)
    report = Report([p])
    assert pretty.pretty(report) == report.to_string().rstrip("\n")


def test_a_real_ipython_session_shows_the_state(tmp_path):
    pytest.importorskip("IPython")
    session = 'from execo import Process\np = Process("exit 3", shell=True).run()\np\n'
    result = subprocess.run([sys.executable, "-m", "IPython", "--quick", "--simple-prompt",
                             "--no-banner", "--colors=NoColor"], input=session,
                            cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=REPO),
                            capture_output=True, text=True, timeout=120)
    out = [line for line in result.stdout.splitlines() if "Out[" in line]
    assert len(out) == 1
    assert "Out[3]: <Process('exit 3', shell=True, name=exit 3, started=True" in out[0]
    assert "exit_code=3" in out[0] and "ok=False" in out[0]
    # the failure was logged once, on the console
    assert result.stderr.count("'exit 3': exit 3") == 1
