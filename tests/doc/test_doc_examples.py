"""Every example of doc/ runs, and the doc builds without a warning.

Users copy the doc's examples into their scripts: a doc example that stops
working is a bug, caught here. Each page's python blocks run in order in
one namespace (state carries over, as in a reader's ipython session),
against the loopback test bed whose ssh aliases are the names the examples
use; the execo_g5k page also gets the real OAR test bed and the API
stand-in (see ``doc_g5k``). How a block is run is said by an RST comment
above it: see ``rst_examples``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.doc.rst_examples import (CONFIG_FILE, FILE, MAY_WARN, NOT_RUN, ROOT, ROOT_MAY_WARN,
                                    DOC_DIR, examples, pages)

REPO = os.path.dirname(DOC_DIR)
PAGES_WITH_CODE = [page for page in pages()
                   if any(e.language == "python" for e in examples(page))]

# Pages whose examples need more than the loopback test bed: a fixture name.
PAGE_ENVIRONMENTS = {"g5k.rst": "doc_g5k", "planning.rst": "doc_planning"}


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _execo_warnings():
    collector = _WarningCollector()
    logger = logging.getLogger("execo")
    logger.addHandler(collector)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)


@contextlib.contextmanager
def _configuration_restored():
    """A page may change the configuration (remote_tool...), as a reader
    would; the next page must not inherit it."""
    from execo import config
    from execo_g5k import config as g5k_config
    dicts = [config.configuration, config.default_connection_params,
             g5k_config.g5k_configuration, g5k_config.default_frontend_connection_params,
             g5k_config.default_oarsh_oarcp_params]
    saved = [dict(d) for d in dicts]
    try:
        yield
    finally:
        for target, copy in zip(dicts, saved):
            target.clear()
            target.update(copy)


_CONFIG_FILE_CHECK = textwrap.dedent("""\
    import os, sys
    path = os.path.join(os.environ["HOME"], ".execo.conf.py")
    names = {}
    exec(compile(open(path).read(), path, "exec"), names)
    import execo.config, execo_g5k.config
    known = {
        "configuration": execo.config.configuration,
        "default_connection_params": execo.config.default_connection_params,
        "default_connexion_params": execo.config.default_connection_params,
        "g5k_configuration": execo_g5k.config.g5k_configuration,
        "default_frontend_connection_params": execo_g5k.config.default_frontend_connection_params,
        "default_frontend_connexion_params": execo_g5k.config.default_frontend_connection_params,
        "default_oarsh_oarcp_params": execo_g5k.config.default_oarsh_oarcp_params,
    }
    for name, value in names.items():
        if not isinstance(value, dict) or name.startswith("__"):
            continue
        assert name in known, "%s is not a dict execo reads from ~/.execo.conf.py" % name
        for key, wanted in value.items():
            got = known[name].get(key)
            same = (callable(got) and getattr(got, "__name__", None) == wanted.__name__
                    if callable(wanted) else got == wanted)
            assert same, "%s[%r] is %r after loading, not %r" % (name, key, got, wanted)
    print("loaded", sorted(n for n, v in names.items() if isinstance(v, dict) and n in known))
""")


def _load_as_config_file(example, home) -> None:
    """Load the block as ~/.execo.conf.py in a fresh interpreter, and check
    that every dict it defines reached execo's configuration."""
    with open(os.path.join(home, ".execo.conf.py"), "w") as conf:
        conf.write(example.code)
    result = subprocess.run([sys.executable, "-c", _CONFIG_FILE_CHECK], cwd=home,
                            env=dict(os.environ, HOME=str(home), PYTHONPATH=REPO),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr, (
        "%s: configuration file example did not load:\n%s%s"
        % (example.where, result.stdout, result.stderr))


def run_page(page: str, home) -> str:
    """Run the page's examples in order; returns what they printed."""
    namespace = {"__name__": "__doc_example__"}
    printed = io.StringIO()
    try:
        _run_examples(page, home, namespace, printed)
    finally:
        _stop_test_beds(namespace)
    return printed.getvalue()


def _stop_test_beds(namespace) -> None:
    """A page may start its own test bed (the tutorial does); a failing
    example must not leave its sshd behind."""
    from execo.testbed.base import TestbedBase
    for value in namespace.values():
        if isinstance(value, TestbedBase):
            value.stop()


def _run_examples(page: str, home, namespace, printed) -> None:
    for example in examples(page):
        if example.language != "python" or example.mode == NOT_RUN:
            continue
        if example.mode == CONFIG_FILE:
            _load_as_config_file(example, home)
            continue
        if example.mode == FILE:
            example.compiled()   # a script shown in the doc must at least parse
            with open(example.reason, "w") as written:
                written.write(example.code)
            continue
        if example.mode in (ROOT, ROOT_MAY_WARN) and os.geteuid() != 0:
            # the emulated test bed needs root; CI has it, so there the
            # examples always run
            assert not os.environ.get("CI"), "CI must run doc/%s as root" % example.where
            continue
        started = time.monotonic()
        with _execo_warnings() as warnings, contextlib.redirect_stdout(printed):
            try:
                exec(example.compiled(), namespace)
            except Exception as exc:
                raise AssertionError("example at doc/%s raised %s: %s\n%s" % (
                    example.where, type(exc).__name__, exc, example.code)) from exc
        printed.write("[doc/%s: %.1fs]\n" % (example.where, time.monotonic() - started))
        if example.mode not in (MAY_WARN, ROOT_MAY_WARN):
            assert not warnings, "example at doc/%s made execo warn:\n%s\n%s" % (
                example.where, example.code, "\n".join(warnings))


# the first use of the OAR test bed may install it (tests/oar: up to 900 s)
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_page_examples_run_in_order_on_the_test_beds(page, doc_testbed, request, tmp_path,
                                                     monkeypatch):
    if page in PAGE_ENVIRONMENTS:
        request.getfixturevalue(PAGE_ENVIRONMENTS[page])
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    # scripts the examples start import execo as if it were installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    with _configuration_restored():
        output = run_page(page, tmp_path)
    sys.stdout.write(output)


def test_every_python_example_is_run_or_says_why_not():
    # parsing raises on an unknown mode or a not-run block without a reason
    shown_only = [e.where for page in pages() for e in examples(page)
                  if e.language == "python" and e.mode == NOT_RUN]
    run = [e for page in pages() for e in examples(page)
           if e.language == "python" and e.mode != NOT_RUN]
    assert run and len(shown_only) <= 3, shown_only


# What the tutorial (doc/tutorial.rst and doc/g5k.rst) must show in executed
# examples: one entry per example of the execo 2.x tutorial it replaces.
SEED_EXAMPLES = {
    "tutorial.rst": ['Process("ls /")', "shell=True", "ignore_exit_code=True", "SshProcess(",
                     ".kill()", "Remote(", "{{{host}}}", "{{", "Report(", "Put(", "Get(",
                     "TaktukRemote", "TaktukPut", "TaktukGet", "ChainPut",
                     "configuration['remote_tool']", "get_process(", "get_remote(",
                     "get_fileput(", "get_fileget("],
    "configuration.rst": ["host_rewrite_func", "g5k_configuration",
                          "default_oarsh_oarcp_params", "default_frontend_connexion_params"],
    "g5k.rst": ["oarsub(", "OarSubmission(", "wait_oar_job_start(", "get_oar_job_nodes(",
                "oardel(", "deploy(", "Deployment(", "get_g5k_sites()",
                "default_frontend_connexion_params", "default_oarsh_oarcp_params"],
}


@pytest.mark.parametrize("page", sorted(SEED_EXAMPLES))
def test_tutorial_examples_cover_every_example_of_the_2x_tutorial(page):
    code = "".join(e.code for e in examples(page) if e.language == "python"
                   and e.mode != NOT_RUN)
    missing = [needle for needle in SEED_EXAMPLES[page] if needle not in code]
    assert not missing, "doc/%s: no executed example shows %s" % (page, missing)


@pytest.mark.timeout(600)
def test_doc_builds_with_sphinx_without_any_warning(tmp_path):
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("sphinx is not installed (pip install sphinx)")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), DOC_DIR, str(tmp_path / "html")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.path.exists(tmp_path / "html" / "tutorial.html")
