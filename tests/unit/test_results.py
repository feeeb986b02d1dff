"""Results as plain data (execo.results): the fields, JSON, save and load.

The remote action types are checked in tests/integration/test_results_remote.py.
"""

import json

import pytest

from execo import (Local, ParallelActions, Process, Report, SequentialActions, load_results)
from execo.exception import ExecoValueError
from execo.report import from_dict
from execo.results import FORMAT, PROCESS_FIELDS, VERSION, LoadedProcess

pytestmark = pytest.mark.timeout(120)


def round_trip(obj, tmp_path):
    """obj -> JSON file -> loaded object; its to_dict() must be obj's."""
    path = tmp_path / "saved.json"
    if isinstance(obj, Report):
        obj.save(str(path))
    else:
        path.write_text(obj.to_json())
    loaded = load_results(str(path))
    assert loaded.to_dict() == obj.to_dict()
    # what is written is what to_dict() gives
    assert json.loads(path.read_text()) == obj.to_dict()
    return loaded


def test_a_process_dict_has_exactly_the_agreed_fields():
    p = Process("echo out; echo err >&2; exit 4", shell=True, nolog_exit_code=True).run()
    d = p.to_dict()
    assert tuple(d) == PROCESS_FIELDS
    assert d["type"] == "Process" and d["host"] is None
    assert d["command"] == "echo out; echo err >&2; exit 4"
    assert d["exit_code"] == 4 and d["error_reason"] == "exit 4" and d["ok"] is False
    assert d["stdout"] == "out\n" and d["stderr"] == "err\n"
    assert d["duration"] == d["end_date"] - d["start_date"] > 0
    assert (d["timeouted"], d["killed"], d["stdout_file"], d["stderr_file"]) == \
        (False, False, None, None)


def test_failure_reasons_are_one_liners():
    timed = Process("sleep 5", timeout=0.2, nolog_timeout=True).run()
    assert timed.to_dict()["error_reason"] == "timeout after 0.2 s"
    assert timed.to_dict()["timeouted"] is True
    killed = Process("kill -TERM $$; sleep 1", shell=True, nolog_exit_code=True).run()
    assert killed.failure_reason == "killed by SIGTERM"
    assert Process("true").run().to_dict()["error_reason"] is None
    missing = Process("execo-no-such-binary-i20", nolog_error=True).run()
    assert missing.failure_reason.startswith("cannot start 'execo-no-such-binary-i20'")
    assert "\n" not in missing.failure_reason


def test_a_list_command_is_saved_as_a_shell_line():
    p = Process(["echo", "a b"]).run()
    assert p.to_dict()["command"] == "echo 'a b'"


def test_output_sent_to_files_names_them(tmp_path):
    out = str(tmp_path / "out.txt")
    with open(str(tmp_path / "err.txt"), "w") as err:
        p = Process("echo x; echo y >&2", shell=True, stdout_handlers=[out],
                    stderr_handlers=[err]).run()
    d = p.to_dict()
    assert d["stdout_file"] == out and d["stderr_file"] == err.name


def test_non_utf8_output_survives_save_and_load_byte_for_byte(tmp_path):
    raw = b"caf\xc3\xa9 \xff\xfe\x00 end\n"
    p = Process(["printf", "caf\\303\\251 \\377\\376\\000 end\\n"]).run()
    assert p.stdout_bytes == raw
    report = Report([p])
    loaded = round_trip(report, tmp_path)
    text = (tmp_path / "saved.json").read_text()
    assert text.isascii() and "\\udcff\\udcfe" in text
    back = loaded.entries[0]
    assert back.stdout_bytes == raw
    assert back.stdout == p.stdout   # decoded as a live process decodes it
    assert back.stdout() == p.stdout


@pytest.mark.parametrize("make", [
    lambda: Process("echo p", shell=True),
    lambda: Local("echo local"),
    lambda: Local("exit 3", shell=True, nolog_exit_code=True),
    lambda: ParallelActions([Local("echo a"), Local("sleep 5", timeout=0.1,
                                                     nolog_timeout=True)]),
    lambda: SequentialActions([Local("echo a"), Local("echo b")]),
], ids=["Process", "Local", "Local-failed", "ParallelActions", "SequentialActions"])
def test_every_local_type_round_trips(make, tmp_path):
    obj = make().run()
    loaded = round_trip(obj, tmp_path)
    round_trip(Report([obj]), tmp_path)
    processes = obj.processes if hasattr(obj, "processes") else [obj]
    loaded_processes = loaded.processes if hasattr(loaded, "processes") else [loaded]
    for live, back in zip(processes, loaded_processes):
        for attribute in ("host", "stdout", "stderr", "ok", "exit_code", "timeouted",
                          "killed", "start_date", "end_date", "failure_reason"):
            assert getattr(back, attribute) == getattr(live, attribute), attribute
        assert back.error_reason == live.failure_reason


def test_a_report_keeps_nested_reports_processes_and_stats_dicts(tmp_path):
    inner = Report([Local("echo in").run()])
    inner.name = "inner"
    stats = Report.empty_stats()
    stats["name"] = "by hand"
    outer = Report([inner, Process("true").run(), stats])
    outer.name = "outer"
    d = outer.to_dict()
    assert (d["format"], d["version"], d["name"]) == (FORMAT, VERSION, "outer")
    assert d["stats"]["num_processes"] == 2
    loaded = round_trip(outer, tmp_path)
    assert loaded.to_string() == outer.to_string()
    assert Report.load(str(tmp_path / "saved.json")).to_dict() == d


def test_a_report_built_before_the_run_saves_the_state_at_save_time(tmp_path):
    action = Local("sleep 0.2")
    report = Report([action])
    assert report.to_dict()["actions"][0]["processes"][0]["start_date"] is None
    action.run()
    loaded = round_trip(report, tmp_path)
    assert loaded.entries[0].processes[0].ended


def test_a_newer_format_is_refused_with_a_clear_message():
    data = Report([]).to_dict()
    data["version"] = VERSION + 1
    with pytest.raises(ExecoValueError, match="upgrade execo"):
        from_dict(data)
    with pytest.raises(ExecoValueError, match="not a saved process"):
        LoadedProcess({"type": "Process"})


def test_a_file_that_is_not_json_says_so(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{ not json")
    with pytest.raises(ExecoValueError, match="holds no saved results"):
        load_results(str(path))


def test_saving_replaces_the_file_at_once(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")
    Report([Local("true").run()]).save(str(path))
    assert json.loads(path.read_text())["format"] == FORMAT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
