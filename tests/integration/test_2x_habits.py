"""Python-2-era habits of execo 2.x scripts, on the real loopback sshd.

- ``{{d.values()}}``: Python 2 gave a list; any sized iterable with an order
  is taken as one, a set is still refused.
- 2.x ran ssh with ``-tt``: remote lines ended in ``\\r\\n``; one line of
  configuration (``default_connection_params['pty'] = True``) gives them
  back, compared here with execo 2.8.2 run on the same hosts.
- ``Get`` from several hosts to one place without ``{{{host}}}``: the result
  is 2.x's (one copy), and one warning names the hosts that lost theirs.
"""

import logging
import re

import pytest

from execo import Get, Remote, SshProcess, TaktukRemote, default_connection_params
from execo.nodeset import expand_nodeset
from execo.substitution import SubstitutionError, Template
from tests.old_execo import run_old_execo

pytestmark = pytest.mark.timeout(180)


def test_dict_views_and_ranges_are_taken_as_lists():
    ports = {"node-1": 5001, "node-2": 5002}
    remote = Remote("iperf -p {{ports.values()}} -B {{ports.keys()}} #{{range(7, 9)}}",
                    ["node-1", "node-2", "node-3"])
    assert [p.cmd for p in remote.processes] == ["iperf -p 5001 -B node-1 #7",
                                                 "iperf -p 5002 -B node-2 #8",
                                                 "iperf -p 5001 -B node-1 #7"]
    pairs = Template("{{ports.items()}}", {"ports": ports})
    assert pairs.render("h", 1) == "('node-2', 5002)"


def test_unordered_values_are_still_refused_clearly():
    names = {"b", "a"}
    with pytest.raises(SubstitutionError, match=r"\{\{names\}\}.*set .*no order.*sorted"):
        Remote("echo {{names}}", ["node-1"])
    numbers = (n for n in range(3))
    with pytest.raises(SubstitutionError, match="not a sequence"):
        Remote("echo {{numbers}}", ["node-1"])
    assert Remote("echo {{sorted(names)}}", ["node-1", "node-2"]).processes[1].cmd == "echo b"


# a script of 2.x's time: it splits remote output on '\r\n' and strips it
SCRIPT = r'''
r = Remote("echo one; echo two 1>&2; echo three", ["node-1", "node-2"]).run()
p = SshProcess("printf 'x\\ny\\n'", "node-3").run()
result = ([proc.stdout.split('\r\n') for proc in r.processes]
          + [p.stdout.split('\r\n'), [proc.stdout[:-2] for proc in r.processes]])
'''


def test_one_configuration_line_gives_2x_line_endings(testbed, monkeypatch):
    old = run_old_execo(
        "import json\nfrom execo import Remote, SshProcess, default_connection_params\n"
        "default_connection_params['ssh_options'] = ('-tt',) + tuple(%r)\n"
        % (list(testbed.connection_params["ssh_options"]),)
        + SCRIPT + "print(json.dumps(result))")
    assert old[0] == ["one", "two", "three", ""]  # 2.x: a remote pty, stderr joined
    namespace = {"Remote": Remote, "SshProcess": SshProcess}
    exec(SCRIPT, namespace)
    assert namespace["result"] != old  # pipes by default
    monkeypatch.setitem(default_connection_params, 'pty', True)  # the one line
    exec(SCRIPT, namespace)
    assert namespace["result"] == old


def test_taktuk_remote_gives_terminal_lines_under_pty_too(testbed, monkeypatch):
    monkeypatch.setitem(default_connection_params, 'pty', True)
    remote = TaktukRemote("echo one; echo two 1>&2; exit 4", ["node-1", "node-2"],
                          nolog_exit_code=True).run()
    assert [p.stdout for p in remote.processes] == ["one\r\ntwo\r\n"] * 2
    assert [p.exit_code for p in remote.processes] == [4, 4]
    assert [p.stderr for p in remote.processes] == ["", ""]


def test_get_to_one_place_keeps_one_copy_and_names_the_overwritten_hosts(testbed, tmp_path,
                                                                        caplog):
    source = tmp_path / "out.log"
    source.write_text("result\n")
    destination = tmp_path / "collected"
    destination.mkdir()
    caplog.set_level(logging.WARNING, logger="execo")
    get = Get(["node-1", "node-2", "node-3"], [str(source)], str(destination)).run()
    assert get.ok
    assert (destination / "out.log").read_text() == "result\n"
    warnings = [r.getMessage() for r in caplog.records if "overwritten" in r.getMessage()]
    assert len(warnings) == 1, warnings
    last = max(get.processes, key=lambda p: p.end_date).host.address
    lost = sorted({"node-1", "node-2", "node-3"} - {last})
    named = re.search(r"the copies of (\S+) were overwritten by those of (\S+) ", warnings[0])
    assert sorted(expand_nodeset(named.group(1))) == lost and named.group(2) == last
    assert str(destination / "out.log") in warnings[0]


def test_get_with_one_place_per_host_says_nothing(testbed, tmp_path, caplog):
    source = tmp_path / "out.log"
    source.write_text("result\n")
    for name in ("node-1", "node-2"):
        (tmp_path / name).mkdir()
    caplog.set_level(logging.WARNING, logger="execo")
    get = Get(["node-1", "node-2"], [str(source)], str(tmp_path / "{{{host}}}")).run()
    assert get.ok
    assert not [r for r in caplog.records if "overwritten" in r.getMessage()]
