"""The differences with execo 2.x that doc/migrating.rst documents, each
measured against execo 2.8.2 (tests/old_execo.py) on the same input.

A test here fails if we drift back to 2.x's behaviour, or if 2.x's
behaviour is not what the page says it was.
"""

import logging

from tests.old_execo import run_old_execo

from execo import Process, TAKTUK, configuration, default_action_factory
from execo.config import default_connection_params
from execo.log import logger


def test_exit_code_is_the_exit_status_not_2x_wait_status():
    old = run_old_execo("import json\nfrom execo import Process\n"
                        "print(json.dumps(Process('exit 3', shell=True, nolog_exit_code=True)"
                        ".run().exit_code))")
    assert old == 3 << 8
    assert Process("exit 3", shell=True, nolog_exit_code=True).run().exit_code == 3


def test_ssh_options_no_longer_ask_for_a_terminal():
    old = run_old_execo("import json\nfrom execo.config import default_connection_params as d\n"
                        "print(json.dumps([list(d['ssh_options']), d['pty']]))")
    old_options, old_pty = old
    assert "-tt" in old_options and not old_pty
    assert "-tt" not in default_connection_params['ssh_options']
    assert not default_connection_params['pty']
    # every other 2.x option is still there, as documented
    for option in old_options[1:]:
        assert option in default_connection_params['ssh_options']
    for option in ("LogLevel=ERROR", "ServerAliveInterval=20", "ServerAliveCountMax=3",
                   "ForwardAgent=no", "ForwardX11=no"):
        assert option in default_connection_params['ssh_options']


def test_logger_defaults_differ_from_2x_as_documented():
    old = run_old_execo("import json\nfrom execo import logger\n"
                        "print(json.dumps([logger.level, logger.propagate]))")
    assert old == [logging.INFO, True]
    assert configuration['log_level'] == logging.WARNING
    assert logger.propagate is True
    assert [logging.getLevelName(level) for level in (15, 12, 5, 3)] == \
        ["DETAIL", "TRACE", "FDEBUG", "IODEBUG"]


def test_default_action_factory_follows_configuration_changes():
    code = ("import json\nfrom execo import configuration, TAKTUK, default_action_factory\n"
            "configuration['remote_tool'] = TAKTUK\n"
            "print(json.dumps(type(default_action_factory.get_remote('true', ['h'])).__name__))")
    assert run_old_execo(code) == "Remote"
    saved = configuration['remote_tool']
    configuration['remote_tool'] = TAKTUK
    try:
        assert type(default_action_factory.get_remote("true", ["h"])).__name__ == "TaktukRemote"
    finally:
        configuration['remote_tool'] = saved


def test_dates_are_formatted_as_2x_did():
    code = ("import json\nfrom execo.time_utils import format_date, format_duration\n"
            "print(json.dumps([format_date(1e9), format_date(1.5, showms=True),"
            " format_duration(3723.5), format_duration(3723.5, showms=True)]))")
    from execo.time_utils import format_date, format_duration
    assert run_old_execo(code) == [format_date(1e9), format_date(1.5, showms=True),
                                   format_duration(3723.5),
                                   format_duration(3723.5, showms=True)]


def test_logger_2x_methods_log_at_their_levels_from_the_callers_line():
    from execo.log import DETAIL, FDEBUG, IODEBUG, TRACE

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(1)
            self.records = []

        def emit(self, record):
            self.records.append(record)

    handler = Records()
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(1)
    try:
        logger.detail("d %s", 1)
        logger.trace("t")
        logger.fdebug("f")
        logger.iodebug("i")
    finally:
        logger.setLevel(saved)
        logger.removeHandler(handler)
    assert [(r.levelno, r.getMessage()) for r in handler.records] == [
        (DETAIL, "d 1"), (TRACE, "t"), (FDEBUG, "f"), (IODEBUG, "i")]
    assert {r.filename for r in handler.records} == {"test_migrating.py"}
