"""The experimenter's console without a network: node sets, gathered
output of local processes and of saved results, progress bars' lifecycle."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from execo import (Host, Local, ParallelActions, Process, Remote, Report, configuration,
                   get_hosts_list, load_results)
from execo.conductor import get_conductor
from execo.gather import Gathered, gather
from execo.nodeset import expand_nodeset, fold_hosts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def addresses(hosts):
    return [h.address for h in get_hosts_list(hosts)]


# ---- node sets -------------------------------------------------------------------

def test_a_node_set_string_stands_for_its_hosts_in_the_order_written():
    assert addresses("griffon-[1-3],graphene-[3,5-7]") == [
        "griffon-1", "griffon-2", "griffon-3", "graphene-3", "graphene-5", "graphene-6",
        "graphene-7"]


def test_node_sets_inside_a_list_expand_and_keep_duplicates_and_padding():
    assert addresses(["node-[08-10]", "host1", "node-9"]) == [
        "node-08", "node-09", "node-10", "host1", "node-9"]


@pytest.mark.parametrize("name", ["node-1", "host1.example.org", "[::1]", "::1", "fe80::1",
                                  "127.0.0.1", "griffon-1.nancy.grid5000.fr"])
def test_plain_names_and_ipv6_literals_stay_one_host(name):
    assert addresses(name) == [name]
    assert addresses([name, name]) == [name, name]


def test_host_objects_are_left_alone():
    host = Host("node-1", user="root")
    assert get_hosts_list([host]) == [host]
    assert get_hosts_list(host) == [host]


def test_node_set_operators_are_nodesets():
    assert expand_nodeset("node-[1-5]!node-[2-3]") == ["node-1", "node-4", "node-5"]


def test_a_malformed_node_set_says_how_to_write_one():
    with pytest.raises(ValueError, match=r"'node-\[1-' is not a valid node set.*node-\[1-10"):
        get_hosts_list("node-[1-")


def test_host_lists_are_folded_for_people_to_read():
    assert fold_hosts(["griffon-%d" % i for i in range(1, 21) if i not in (18, 20)]) \
        == "griffon-[1-17,19]"
    assert fold_hosts([Host("b-2"), "b-1", "a"]) == "a,b-[1-2]"
    assert fold_hosts(["[::1]", "host"]) == "[::1],host"


def test_actions_show_their_hosts_folded():
    # building an action connects nowhere
    text = repr(Remote("true", "node-[1-20]"))
    assert "'node-[1-20]'" in text and "node-7" not in text
    assert "Host('n', user='root')" in repr(Remote("true", [Host("n", user="root"), "m"]))


def test_import_execo_loads_neither_clustershell_nor_tqdm():
    code = ("import sys, execo; from execo import Remote; Remote('true', ['a'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ClusterShell', 'tqdm')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=REPO), check=True).stdout
    assert out.strip() == "[]"


# ---- gathered output -------------------------------------------------------------------

def _result(host, stdout="", ok=True, exit_code=0, **more):
    fields = {"type": "SshProcess", "host": host, "command": "c", "start_date": 1.0,
              "end_date": 2.0, "duration": 1.0, "exit_code": exit_code,
              "error_reason": None, "ok": ok, "timeouted": False, "killed": False,
              "stdout": stdout, "stderr": "", "stdout_file": None, "stderr_file": None}
    fields.update(more)
    return fields


def _saved_action(processes):
    return {"type": "Remote", "name": "c", "ok": all(p["ok"] for p in processes),
            "start_date": 1.0, "end_date": 2.0, "duration": 1.0, "processes": processes}


def test_identical_outputs_are_one_group_largest_first_hosts_folded():
    saved = _saved_action([_result("n-%d" % i, "6.1.0\n") for i in range(1, 11)]
                          + [_result("n-11", "5.10.0\n")])
    gathered = gather(saved)
    assert [(str(n), o) for n, o in gathered] == [("n-[1-10]", "6.1.0\n"),
                                                  ("n-11", "5.10.0\n")]
    assert len(gathered[0][0]) == 10 and "n-3" in gathered[0][0]
    assert gathered.ok and gathered.failures == []


def test_failures_are_grouped_by_reason_without_the_host_name():
    refused = "ssh to %r failed (exit 255, nothing listens on the ssh port): ssh: connect " \
              "to host %s port 22: Connection refused"
    saved = _saved_action(
        [_result("n-1", "x")]
        + [_result("n-%d" % i, ok=False, exit_code=255, error_reason=refused % ("n-%d" % i,
                                                                                 "n-%d" % i))
           for i in (2, 3, 5)]
        + [_result("n-4", ok=False, exit_code=1, error_reason="exit 1"),
           _result("n-6", ok=False, exit_code=-9, error_reason="killed by SIGKILL")])
    failures = [(str(n), r) for n, r in gather(saved).failures]
    assert failures == [
        ("n-[2-3,5]", (refused % ("<host>", "<host>")).replace("'<host>'", "<host>")),
        ("n-4", "exit 1"), ("n-6", "killed by SIGKILL")]


def test_a_saved_report_gathers_like_the_live_action_it_was(tmp_path):
    action = ParallelActions([Local("echo same"), Local("echo same"),
                              Local("echo odd; exit 2", shell=True, nolog_exit_code=True)]).run()
    live = gather(action)
    Report([action]).save(str(tmp_path / "report.json"))
    loaded = load_results(str(tmp_path / "report.json"))
    assert str(gather(loaded)) == str(live)
    assert str(gather(json.loads(action.to_json()))) == str(live)
    assert str(gather(loaded.to_dict())) == str(live)
    assert [o for _, o in live] == ["same\n", "odd\n"]  # both local: one name, two outputs
    assert [(str(n), r) for n, r in live.failures] == [("localhost", "exit 2")]


def test_the_printable_form_is_clubak_s():
    gathered = Gathered([("n-[1-3]", "a\nb\n"), ("n-4", "")], [("n-4", "exit 1")])
    assert str(gathered) == ("---------------\nn-[1-3] (3)\n---------------\na\nb\n"
                             "---------------\nn-4 (1)\n---------------\n(no output)\n"
                             "failed: n-4 (1): exit 1")


def test_gathered_is_an_action_method_and_a_timeout_is_a_reason():
    action = Local("sleep 5", timeout=0.2, nolog_timeout=True).run()
    assert [r for _, r in action.gathered().failures] == ["timeout after 0.2 s"]
    with pytest.raises(ValueError):
        action.gathered("stdin")


# ---- progress bars ------------------------------------------------------------------------

@pytest.fixture
def progress_setting():
    """configuration["progress"] as it was before the test."""
    saved = configuration["progress"]
    yield
    configuration["progress"] = saved


def _progress_threads():
    return [t for t in threading.enumerate() if t.name in ("execo-progress",)
            or type(t).__name__ == "TMonitor"]


def test_quick_actions_never_show_a_bar_and_leave_no_thread(capfd):
    from execo import progress
    Local("true", progress=True).run()
    watcher = progress._watcher._thread
    assert watcher is not None and watcher.is_alive()
    for _ in range(20):   # one watching thread for all, not one per action
        Local("true", progress=True).run()
        assert progress._watcher._thread is watcher
    watcher.join(30)      # it ends by itself once nothing is pending
    assert not watcher.is_alive() and progress._watcher._thread is None
    assert _progress_threads() == []
    assert "%|" not in capfd.readouterr().err


def test_progress_off_by_configuration_or_argument(capfd, progress_setting):
    configuration["progress"] = False
    with Local("sleep 60").start() as action:
        assert action._progress_bar is None
    configuration["progress"] = True
    with Local("sleep 60", progress=False).start() as action:
        assert action._progress_bar is None
    with Local("sleep 60").start() as action:
        assert action._progress_bar is not None
    action.wait()
    assert "%|" not in capfd.readouterr().err


def test_a_bar_shows_its_counts_and_its_thread_lives_only_while_shown(capfd):
    conductor = get_conductor()
    processes = [Process(["sleep", "60"]) for _ in range(60)]
    from execo.action import Action
    action = Action(progress=True)
    action._set_processes(processes)
    action.start()
    try:
        deadline = time.monotonic() + 30
        while action._progress_bar._thread is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_progress_threads()) == 1   # tqdm's monitor thread is off
        # while the bar is shown, the conductor is not woken by it
        Process("true").run()
        before = conductor.iterations
        time.sleep(1.0)  # the absence of wake-ups is what is measured
        assert conductor.iterations - before == 0
        for p in processes[:10]:
            p.kill()
    finally:
        action.kill().wait()
    assert _progress_threads() == []
    err = capfd.readouterr().err
    assert "60/60, failed 0" in err
