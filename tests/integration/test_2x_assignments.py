"""What execo 2.x scripts assign on actions, on the real loopback sshd.

A helper library of a public project merges results with
``result.processes = result.processes + other.processes`` and retargets an
action with ``action.hosts = [...]``: in 2.8.2 both are assignable.
"""

import pytest

from execo import Get, Host, Remote, Report, TaktukRemote

pytestmark = pytest.mark.timeout(120)


def test_assigned_processes_are_what_the_action_reports_on(testbed):
    first = Remote("echo out-{{{host}}}", ["node-1", "node-2"]).run()
    other = Remote("echo out-{{{host}}}; exit 3", ["node-3"], ignore_exit_code=False,
                   nolog_exit_code=True).run()
    assert first.ok and not other.ok
    first.processes = first.processes + other.processes
    assert [p.stdout for p in first.processes] == ["out-node-1\n", "out-node-2\n",
                                                   "out-node-3\n"]
    assert not first.ok
    stats = first.stats()
    assert (stats['num_processes'], stats['num_ok'], stats['num_non_zero_exit_codes']) == (3, 2, 1)
    report = Report([first])
    assert report.stats()['num_processes'] == 3 and report.stats()['num_ok'] == 2
    assert "3" in report.to_string()
    gathered = first.gathered()
    assert not gathered.ok
    assert "node-3" in str(gathered)


def test_merged_results_of_ok_actions_are_ok(testbed):
    merged = Remote("echo a", ["node-1"]).run()
    merged.processes = merged.processes + Remote("echo b", ["node-2"]).run().processes
    assert merged.ok
    assert "".join(p.stdout for p in merged.processes) == "a\nb\n"
    assert merged.stats()['num_finished_ok'] == 2


@pytest.mark.parametrize("kind", [Remote, TaktukRemote])
def test_assigned_hosts_read_back_normalised_and_processes_follow_at_reset(testbed, kind):
    suffixes = ["x", "y"]
    action = kind("echo {{{host}}}-{{suffixes}}", ["node-1"])
    suffixes = ["changed"]  # noqa: F841 - values are taken when the action is built, as in 2.x
    action.run()
    assert action.ok
    action.hosts = ["node-2", Host("node-3"), "node-[4-5]"]
    assert action.hosts == [Host("node-2"), Host("node-3"), Host("node-4"), Host("node-5")]
    assert all(isinstance(h, Host) for h in action.hosts)
    # the run already made keeps its results until the next reset()
    assert [p.stdout for p in action.processes] == ["node-1-x\n"]
    action.reset().run()
    assert action.ok
    assert [p.stdout for p in action.processes] == ["node-2-x\n", "node-3-y\n", "node-4-x\n",
                                                    "node-5-y\n"]
    assert [p.host for p in action.processes] == action.hosts


def test_assigned_hosts_of_a_get(testbed, tmp_path):
    for name in ("node-1", "node-2"):
        (tmp_path / name).mkdir()
    source = tmp_path / "src.txt"
    source.write_text("data\n")
    get = Get(["node-1"], [str(source)], str(tmp_path / "{{{host}}}"))
    get.hosts = "node-2"
    assert get.hosts == [Host("node-2")]
    get.reset().run()
    assert get.ok
    assert (tmp_path / "node-2" / "src.txt").read_text() == "data\n"
    assert not (tmp_path / "node-1" / "src.txt").exists()


def test_a_literal_and_the_same_plain_template_stay_apart(testbed, tmp_path):
    from execo import Put, literal
    names = ["a", "b"]  # noqa: F841 - named by the template
    (tmp_path / "{{names}}").write_text("literal\n")
    (tmp_path / "a").write_text("template\n")
    put = Put(["node-1"], [literal(str(tmp_path / "{{names}}")), str(tmp_path / "{{names}}")],
              str(tmp_path / "out-{{{host}}}"))
    (tmp_path / "out-node-1").mkdir()
    put.hosts = ["node-1"]
    put.reset().run()
    assert put.ok, put.processes[0].stderr
    assert (tmp_path / "out-node-1" / "{{names}}").read_text() == "literal\n"
    assert (tmp_path / "out-node-1" / "a").read_text() == "template\n"
