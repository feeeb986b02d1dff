"""ChainPut on the loopback test bed: every alias is this machine, so each
host gets its own destination directory through ``{{{host}}}``."""

import hashlib
import os
import socket

import pytest

from execo import CHAINPUT, Host, Report, configuration, get_fileput
from execo.chainput import ChainPut

pytestmark = pytest.mark.timeout(300)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
    return path


def test_50_mib_file_reaches_10_hosts_with_identical_checksums(testbed, tmp_path, big_file):
    hosts = testbed.hosts[:10]
    for host in hosts:
        (tmp_path / host).mkdir()
    put = ChainPut(hosts, [str(big_file)], str(tmp_path / "{{{host}}}")).run(timeout=280)
    assert put.ok, Report([put]).to_string()
    expected = sha256(big_file)
    for host in hosts:
        assert sha256(tmp_path / host / "big.bin") == expected
    assert [p.exit_code for p in put.processes] == [0] * 10


def test_a_dead_host_in_the_chain_is_reported_and_the_hosts_behind_it_are_served(
        testbed, tmp_path, closed_port):
    source = tmp_path / "small.txt"
    source.write_text("chained\n")
    hosts = ["node-1", "node-2", Host("node-3", port=closed_port), "node-4", "node-5"]
    for name in ("node-1", "node-2", "node-3", "node-4", "node-5"):
        (tmp_path / name).mkdir()
    put = ChainPut(hosts, [str(source)], str(tmp_path / "{{{host}}}")).run(timeout=200)
    dead = put.processes[2]
    assert dead.error and "node-3" in dead.error_reason and "refused" in dead.error_reason
    for index in (0, 1, 3, 4):
        assert put.processes[index].ok
        assert (tmp_path / hosts[index] / "small.txt").read_text() == "chained\n"


def test_a_host_whose_directory_is_missing_fails_alone_and_forwards_anyway(testbed, tmp_path):
    source = tmp_path / "f.txt"
    source.write_text("x")
    for name in ("node-1", "node-3"):
        (tmp_path / name).mkdir()
    put = ChainPut(["node-1", "node-2", "node-3"], [str(source)],
                   str(tmp_path / "{{{host}}}")).run(timeout=120)
    first, missing, last = put.processes
    assert first.ok and last.ok
    assert missing.exit_code == 1 and not missing.ok and "chainput" in missing.stderr
    assert (tmp_path / "node-3" / "f.txt").read_text() == "x"


def test_several_files_and_the_factory(testbed, tmp_path):
    files = []
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
        files.append(str(tmp_path / name))
    (tmp_path / "node-1").mkdir()
    (tmp_path / "node-2").mkdir()
    saved = configuration['fileput_tool']
    try:
        configuration['fileput_tool'] = CHAINPUT
        put = get_fileput(["node-1", "node-2"], files, str(tmp_path / "{{{host}}}"))
        assert type(put) is ChainPut
        put.run(timeout=120)
    finally:
        configuration['fileput_tool'] = saved
    assert put.ok
    for host in ("node-1", "node-2"):
        assert sorted(os.listdir(tmp_path / host)) == ["a.txt", "b.txt"]


def test_missing_local_file_ends_every_host_with_an_error(testbed, tmp_path):
    put = ChainPut(["node-1", "node-2"], [str(tmp_path / "nope")], str(tmp_path)).run(timeout=30)
    assert put.ended and all(p.error and "nope" in p.error_reason for p in put.processes)
