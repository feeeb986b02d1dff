"""execo_engine.Engine: call order, options, outputs, and a run
interrupted by SIGINT then continued with ``-c DIR``."""

import collections
import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from execo_engine import Engine, logger
from execo_engine.engine import LOG_FILE_NAME

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def started():
    """Start engines in this process; remove their log files' handlers after."""
    engines = []

    def start(engine, args):
        engines.append(engine)
        engine.start(args)
        return engine
    level = logger.level
    yield start
    logger.setLevel(level)
    for engine in engines:
        if engine._log_handler is not None:
            logging.getLogger("execo").removeHandler(engine._log_handler)
            engine._log_handler.close()


def test_init_then_run_of_each_class_once_in_mro_order_without_super(tmp_path, started):
    calls = []

    class Base(Engine):
        def init(self):
            calls.append("Base.init")

        def run(self):
            calls.append("Base.run")

    class Middle(Base):
        def init(self):
            calls.append("Middle.init")

    class Leaf(Middle):
        def init(self):
            calls.append("Leaf.init %s" % self.args.use_dir)

        def run(self):
            calls.append("Leaf.run")

    started(Leaf(), ["-c", str(tmp_path)])
    assert calls == ["Leaf.init %s" % tmp_path, "Middle.init", "Base.init",
                     "Leaf.run", "Base.run"]


def test_engine_options_result_dir_and_log_file(tmp_path, started, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Options(Engine):
        def __init__(self):
            super().__init__()
            self.args_parser.add_argument("--size", type=int, default=1)

        def run(self):
            logger.debug("size is %d", self.args.size)

    engine = started(Options(), ["-l", "DEBUG", "--size", "3"])
    assert engine._log_handler is None   # the run's log file is closed with the run
    assert engine.run_name.startswith("Options_")
    assert engine.result_dir == str(tmp_path / engine.run_name)
    assert logger.level == logging.DEBUG
    with open(os.path.join(engine.result_dir, LOG_FILE_NAME)) as log:
        text = log.read()
    assert "DEBUG execo.engine: size is 3" in text and "in directory %s" % engine.result_dir in text
    assert started(Options(), ["-l", "15"]) and logger.level == 15


SCRIPT = textwrap.dedent("""\
    import os, sys, time
    from execo_engine import Engine, ParamSweeper, sweep, slugify, logger

    class Sweeping(Engine):
        def run(self):
            sweeper = ParamSweeper(os.path.join(self.result_dir, "sweeps"),
                                   sweep({"n": list(range(30)), "kind": ["x"]}))
            if self.args.use_dir:
                # a SIGINT between get_next() and the try below leaves its
                # combination in progress: a continued run takes it back
                sweeper.reset(reset_inprogress=True)
            sys.stderr.write("to stderr\\n")
            os.system("echo from a child process")
            while (combination := sweeper.get_next()) is not None:
                try:
                    time.sleep(0.02)
                    name = slugify(combination)
                    with open(os.path.join(self.result_dir, name), "w") as result:
                        result.write("ok\\n")
                except BaseException:
                    sweeper.cancel(combination)
                    raise
                sweeper.done(combination)
                print("done", name)
            logger.info("all done")

    if __name__ == "__main__":
        Sweeping().start()
""")


def _engine(tmp_path, *args):
    script = tmp_path / "sweeping.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script)] + list(args), cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=REPO))


@pytest.mark.timeout(120)
def test_interrupted_by_sigint_then_continued_with_c_dir(tmp_path):
    engine = _engine(tmp_path, "-L")
    seen = 0
    for line in engine.stdout:
        seen += line.startswith("done ")
        if seen == 5:
            engine.send_signal(signal.SIGINT)
            break
    out, err = engine.communicate(timeout=60)
    assert engine.returncode == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err and "interrupted; to go on with this run" in err
    (result_dir,) = [p for p in tmp_path.iterdir() if p.name.startswith("Sweeping_")]
    again = _engine(tmp_path, "-L", "-c", str(result_dir))
    out2, err2 = again.communicate(timeout=60)
    assert again.returncode == 0, err2
    assert "all done" in err2
    names = ["n-%d-kind-x" % n for n in range(30)]
    assert all((result_dir / name).read_text() == "ok\n" for name in names)
    # the outputs of both runs, stdout and stderr, fd-level (a child's echo too)
    stdout = (result_dir / "stdout").read_text()
    done = collections.Counter(line.split()[1] for line in stdout.splitlines()
                               if line.startswith("done "))
    # each printed at most once; one may miss its line, if the interrupt
    # landed between its done() and its print()
    assert set(done) <= set(names) and len(done) >= 29 and set(done.values()) == {1}
    assert stdout.count("from a child process") == 2
    stderr = (result_dir / "stderr").read_text()
    assert stderr.count("to stderr") == 2 and "KeyboardInterrupt" in stderr
    log = (result_dir / LOG_FILE_NAME).read_text()
    assert log.count("in directory %s" % result_dir) == 2
    assert "interrupted; to go on with this run:" in log and "-c %s" % result_dir in log
    assert log.index("interrupted") < log.index("all done")


@pytest.mark.timeout(120)
def test_redirected_and_merged_outputs_leave_the_console_silent(tmp_path):
    engine = _engine(tmp_path, "-R", "-M", "-c", str(tmp_path / "run"))
    out, err = engine.communicate(timeout=60)
    assert engine.returncode == 0, err
    assert (out, err) == ("", "")
    merged = (tmp_path / "run" / "stdout+stderr").read_text()
    assert "done n-29-kind-x" in merged and "to stderr" in merged and "all done" in merged
    assert not (tmp_path / "run" / "stdout").exists()


@pytest.mark.parametrize("use_pty", [False, True])
def test_copy_outputs_keeps_the_console_and_copies_every_line_to_the_files(tmp_path, use_pty):
    code = textwrap.dedent("""\
        import os, sys
        from execo_engine import copy_outputs
        copy_outputs("out", "err", use_pty=%r)
        print("from python")
        os.system("if [ -t 1 ]; then echo child on a tty; else echo child on a pipe; fi")
        sys.stderr.write("to stderr\\n")
    """ % use_pty)
    result = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, PYTHONPATH=REPO))
    child = "child on a tty" if use_pty else "child on a pipe"
    assert result.returncode == 0 and result.stderr == "to stderr\n", result.stderr
    assert result.stdout == "from python\n%s\n" % child
    assert (tmp_path / "out").read_text() == result.stdout   # no "\r\n" from the pty
    assert (tmp_path / "err").read_text() == "to stderr\n"
