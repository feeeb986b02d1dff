"""execo's logs fit the program's logging: each case runs a real script.

The "execo" logger propagates; its console handler writes only while the
root logger has no handler. Each test runs a fresh interpreter (logging's
state is process-wide) and compares the exact outputs, timestamps aside.
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.M)

# one failed process, then an action with two failures: three warnings
FAILURES = textwrap.dedent("""\
    from execo import Local, ParallelActions, Process
    Process("echo oops >&2; exit 3", shell=True).run()
    ParallelActions([Local("exit 1", shell=True), Local("exit 1", shell=True),
                     Local("true")], name="pair").run()
""")
LINES = [
    "WARNING 'echo oops >&2; exit 3': exit 3 (stderr: oops)",
    "WARNING 'exit 1': exit 1",
    "WARNING 'exit 1': exit 1",
]


def run_script(code, tmp_path, env=None):
    script = tmp_path / "script.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=str(tmp_path),
                            env=dict(os.environ, PYTHONPATH=REPO, **(env or {})),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def untimed(text):
    return TIMESTAMP.sub("", text)


def test_a_bare_import_shows_each_warning_once_on_the_console(tmp_path):
    result = run_script(FAILURES, tmp_path)
    assert untimed(result.stderr).splitlines() == LINES
    assert result.stdout == ""


def test_basic_config_to_a_file_gets_the_records_and_the_console_none(tmp_path):
    code = ("import logging\nimport execo\n"
            "logging.basicConfig(filename='run.log', format='%(name)s %(levelname)s "
            "%(message)s')\n" + FAILURES)
    result = run_script(code, tmp_path)
    assert result.stderr == ""
    assert (tmp_path / "run.log").read_text().splitlines() == [
        "execo " + line for line in LINES]


def test_basic_config_before_the_import_works_the_same(tmp_path):
    code = ("import logging\nlogging.basicConfig(filename='run.log', "
            "format='%(levelname)s %(message)s')\n" + FAILURES)
    result = run_script(code, tmp_path)
    assert result.stderr == ""
    assert (tmp_path / "run.log").read_text().splitlines() == LINES


def test_dict_config_gives_one_copy_per_handler(tmp_path):
    code = textwrap.dedent("""\
        import logging.config
        import execo
        logging.config.dictConfig({
            "version": 1,
            "formatters": {"plain": {"format": "%(levelname)s %(message)s"}},
            "handlers": {
                "a": {"class": "logging.FileHandler", "filename": "a.log",
                      "formatter": "plain"},
                "b": {"class": "logging.FileHandler", "filename": "b.log",
                      "formatter": "plain"},
                "root": {"class": "logging.FileHandler", "filename": "root.log",
                         "formatter": "plain"},
            },
            "loggers": {"execo": {"handlers": ["a", "b"]}},
            "root": {"handlers": ["root"]},
        })
    """) + FAILURES
    result = run_script(code, tmp_path)
    assert result.stderr == ""
    for name in ("a.log", "b.log", "root.log"):
        assert (tmp_path / name).read_text().splitlines() == LINES


def test_dict_config_on_execo_alone_keeps_the_console_quiet(tmp_path):
    code = textwrap.dedent("""\
        import logging.config
        import execo
        logging.config.dictConfig({
            "version": 1,
            "handlers": {"out": {"class": "logging.StreamHandler",
                                 "stream": "ext://sys.stdout"}},
            "loggers": {"execo": {"handlers": ["out"]}},
        })
    """) + FAILURES
    result = run_script(code, tmp_path)
    # one copy, on the configured handler; nothing left to logging's last resort
    assert result.stderr == ""
    assert result.stdout.splitlines() == [line.split(" ", 1)[1] for line in LINES]


def test_the_engine_logger_follows_the_same_rules(tmp_path):
    bare = run_script("from execo_engine import logger\nlogger.info('step %d', 1)\n", tmp_path)
    assert untimed(bare.stderr) == "INFO step 1\n"
    configured = run_script(
        "import logging\nfrom execo_engine import logger\n"
        "logging.basicConfig(filename='e.log', format='%(name)s %(message)s')\n"
        "logger.info('step %d', 1)\n", tmp_path)
    assert configured.stderr == ""
    assert (tmp_path / "e.log").read_text() == "execo.engine step 1\n"


def test_debug_level_adds_the_dump_with_the_command_line(tmp_path):
    code = ("from execo import Process, configuration\n"
            "configuration['log_level'] = 10\n"
            "Process('exit 3', shell=True).run()\n")
    lines = untimed(run_script(code, tmp_path).stderr).splitlines()
    assert lines[0] == "WARNING 'exit 3': exit 3"
    assert lines[1].startswith("DEBUG terminated: <Process('exit 3', shell=True, ")


def test_in_ipython_each_warning_shows_once(tmp_path):
    pytest.importorskip("IPython")   # in the Makefile's test-deps: CI has it
    script = tmp_path / "session.ipy"
    script.write_text(FAILURES)
    result = subprocess.run([sys.executable, "-m", "IPython", "--quick", "--no-banner",
                             "--colors=NoColor", str(script)], cwd=str(tmp_path),
                            env=dict(os.environ, PYTHONPATH=REPO),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert untimed(result.stderr).splitlines() == LINES
    assert result.stdout == ""
