"""Serial, SerialSsh and RemoteSerial against a real pseudo-serial line.

``socat`` makes a pty pair (two linked pseudo-terminals, as a null-modem
cable between two serial ports); a responder on one end plays a board's
console: it answers ``ping N`` with ``pong N`` and prints a prompt. The
serial processes open the other end, locally or through the loopback
sshd, and talk to it with ``write`` and ``expect``.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from execo import RemoteSerial, Serial, SerialSsh
from execo.action import RemoteSerial as ActionRemoteSerial
from execo.process import Serial as ProcessSerial, SerialSsh as ProcessSerialSsh

RESPONDER = textwrap.dedent("""
    import os, sys, termios, tty
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    os.write(fd, b"console ready\\n> ")
    pending = b""
    while True:
        data = os.read(fd, 1024)
        if not data:
            break
        pending += data
        while b"\\n" in pending:
            line, pending = pending.split(b"\\n", 1)
            words = line.strip().split()
            if words[:1] == [b"ping"]:
                os.write(fd, b"pong " + b" ".join(words[1:]) + b"\\n> ")
            elif words[:1] == [b"quit"]:
                sys.exit(0)
""")


class SerialPair:
    """A socat pty pair: ``device`` for the process under test, ``board``
    end played by the responder."""

    def __init__(self, directory):
        self.device = os.path.join(directory, "ttyTEST")
        self.board = os.path.join(directory, "ttyBOARD")
        self.socat = subprocess.Popen(
            ["socat", "pty,raw,echo=0,link=%s" % self.device,
             "pty,raw,echo=0,link=%s" % self.board], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.device) and os.path.exists(self.board)):
            assert time.monotonic() < deadline, "socat made no pty pair"
            assert self.socat.poll() is None, "socat ended: %s" % self.socat.returncode
            time.sleep(0.02)  # socat signals nothing else when its links exist
        self.responder = subprocess.Popen([sys.executable, "-c", RESPONDER, self.board])

    def close(self):
        for child in (self.responder, self.socat):
            if child.poll() is None:
                child.kill()
            child.wait()


@pytest.fixture
def serial_pair(tmp_path):
    if shutil.which("socat") is None:
        pytest.fail("socat is missing: `make test-deps` installs it")
    pair = SerialPair(str(tmp_path))
    try:
        yield pair
    finally:
        pair.close()


def _converse(console):
    """The exchange every serial process must support: read the banner,
    type two commands, read their answers."""
    assert console.expect(r"console ready\n> ", timeout=10)
    console.write("ping 1\n")
    assert console.expect(r"pong 1\n> ", timeout=10)
    console.write(b"ping 2\n")
    assert console.expect(r"pong 2\n> ", timeout=10)


def test_serial_writes_and_expects_on_a_local_line(serial_pair):
    console = Serial(serial_pair.device, 115200).start()
    try:
        _converse(console)
    finally:
        console.kill().wait(timeout=10)
    assert console.ended and console.killed
    assert "pong 2" in console.stdout
    assert serial_pair.responder.poll() is None  # the board outlives its console


def test_a_written_line_reaches_the_board_at_another_speed(serial_pair):
    console = Serial(serial_pair.device, 9600).start()
    try:
        assert console.expect(r"> ", timeout=10)
        console.write("quit\n")
        assert serial_pair.responder.wait(timeout=10) == 0  # "quit" went down the line
    finally:
        console.kill().wait(timeout=10)
    assert console.ended


def test_serial_ssh_talks_to_the_line_through_ssh(testbed, serial_pair):
    console = SerialSsh(testbed.hosts[0], serial_pair.device, 115200).start()
    try:
        _converse(console)
    finally:
        console.kill().wait(timeout=10)
    assert console.ended and "pong 1" in console.stdout


def test_remote_serial_types_on_each_hosts_line(testbed, tmp_path):
    """Two hosts, each with its own board: ``{{{host}}}`` in the device."""
    pairs = {}
    try:
        for host in testbed.hosts[:2]:
            directory = tmp_path / host
            directory.mkdir()
            pairs[host] = SerialPair(str(directory))
        device = str(tmp_path / "{{{host}}}" / "ttyTEST")
        consoles = RemoteSerial(testbed.hosts[:2], device, 115200).start()
        try:
            for process in consoles.processes:
                assert process.expect(r"console ready\n> ", timeout=10)
            consoles.write("ping all\n")
            for process in consoles.processes:
                assert process.expect(r"pong all\n> ", timeout=10)
        finally:
            consoles.kill().wait(timeout=10)
        assert all("pong all" in p.stdout for p in consoles.processes)
    finally:
        for pair in pairs.values():
            pair.close()


def test_2x_import_paths_of_the_serial_family():
    assert ActionRemoteSerial is RemoteSerial
    assert ProcessSerial is Serial and ProcessSerialSsh is SerialSsh


def test_a_bad_speed_is_refused_at_construction():
    with pytest.raises(ValueError, match="bauds"):
        Serial("/dev/ttyS0", 0)
