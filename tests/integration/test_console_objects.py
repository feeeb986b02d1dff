"""Objects that read well where experimenters look at them: the IPython
prompt (reprs), Jupyter (HTML views), the live objects' dates, and
Remote's working directory and environment, local (2.x) or remote."""

import json
import os

import pytest
from IPython.lib.pretty import pretty

from execo import Local, Process, Remote, load_results
from execo.exception import ExecoValueError


def _probe(testbed):
    return Remote("echo '<b>same</b>'; test {{{host}}} != node-2", "node-[1-3]",
                  nolog_exit_code=True).run()


def test_gathered_results_and_their_failures_read_at_the_prompt(testbed):
    gathered = _probe(testbed).gathered()
    assert repr(gathered.failures) == "[(NodeSet('node-2'), 'exit 1')]"
    assert repr(gathered) == ("Gathered([(NodeSet('node-[1-3]'), '<b>same</b>\\n')], "
                              "failures=[(NodeSet('node-2'), 'exit 1')])")
    # IPython shows a gathered result as print does, its failures as data
    assert pretty(gathered) == str(gathered)
    assert pretty(gathered.failures) == "[(NodeSet('node-2'), 'exit 1')]"
    (nodes, output), = gathered
    assert len(nodes) == 3 and "node-1" in nodes and " at 0x" not in pretty(nodes)


def test_an_action_and_a_process_have_an_html_view_for_jupyter(testbed, tmp_path):
    action = _probe(testbed)
    page = action._repr_html_()
    assert page.count("<tr") == 4  # header + 3 hosts
    failed = [row for row in page.split("<tr") if "execo-failed" in row]
    assert len(failed) == 1 and "node-2" in failed[0] and "exit 1" in failed[0]
    assert "&lt;b&gt;same&lt;/b&gt;" in page and "<b>same</b>" not in page
    process = action.processes[1]
    view = process._repr_html_()
    assert "node-2" in view and "exit 1" in view and "execo-failed" in view
    assert "<pre>&lt;b&gt;same&lt;/b&gt;</pre>" in view
    # saved results, read back, show the same
    (tmp_path / "saved.json").write_text(action.to_json())
    loaded = load_results(str(tmp_path / "saved.json"))
    assert loaded._repr_html_().split("</div>", 1)[1] == page.split("</div>", 1)[1]
    assert "exit 1" in loaded.processes[1]._repr_html_()


def test_live_objects_have_the_dates_and_duration_their_saved_form_has():
    action = Local("sleep 0.2")
    process = action.processes[0]
    assert (action.start_date, action.end_date, process.duration) == (None, None, None)
    action.start()
    assert action.start_date is not None and action.end_date is None
    assert process.duration is None
    action.wait()
    saved = json.loads(action.to_json())
    assert (action.start_date, action.end_date) == (saved["start_date"], saved["end_date"])
    assert action.duration == saved["duration"]
    assert process.duration == saved["processes"][0]["duration"]
    assert process.duration == process.end_date - process.start_date > 0
    standalone = Process("true").run()
    assert standalone.duration == json.loads(standalone.to_json())["duration"]


def test_cwd_and_env_of_remote_are_the_local_sshs_as_in_2x(testbed, tmp_path):
    remote = Remote('pwd; echo "FOO=$FOO"', "node-1", cwd=str(tmp_path),
                    env=dict(os.environ, FOO="local")).run()
    assert remote.ok, remote.processes[0].stderr
    home, foo = remote.processes[0].stdout.splitlines()
    assert home != str(tmp_path) and foo == "FOO="


def test_remote_cwd_and_env_apply_to_the_remote_command_quoted_safely(testbed, tmp_path):
    directory = tmp_path / "a dir; with 'quotes'"
    directory.mkdir()
    value = "a b'c\"$HOME`id`;\n2nd line"
    remote = Remote('pwd; printf "%s|" "$FOO" "$BAR"', "node-[1-2]",
                    remote_cwd=str(directory), remote_env={"FOO": value, "BAR": 3}).run()
    assert remote.ok, remote.processes[0].stderr
    for process in remote.processes:
        assert process.stdout == "%s\n%s|3|" % (directory, value)
    argv = Remote(["printf", "%s", "x y"], "node-1", remote_cwd=str(directory)).run()
    assert argv.processes[0].stdout == "x y"


def test_a_missing_remote_cwd_fails_before_the_command_runs(testbed, tmp_path):
    remote = Remote("touch %s/ran" % tmp_path, "node-1", remote_cwd=str(tmp_path / "missing"),
                    nolog_exit_code=True).run()
    assert not remote.ok and remote.processes[0].exit_code == 1
    assert not (tmp_path / "ran").exists()


def test_a_bad_remote_env_name_is_refused_before_any_host():
    with pytest.raises(ExecoValueError, match="environment variable name"):
        Remote("true", "node-1", remote_env={"A;rm": "x"})
