#!/usr/bin/env python3
"""A stand-in for kaconsole3, which cannot be installed outside Grid5000
(it needs a kadeploy server and the nodes' serial lines).

It is run by execo exactly where kaconsole3 would be, on a frontend
alias of the loopback test bed through ``ssh -tt``, and keeps the
contract execo relies on: it refuses to run without a terminal, puts
it in raw mode, prints ``[Kaconsole] kill sequence: ^[^[^[^[`` once
"connected", and leaves, exit code 0, when it reads four ESC in a row.
Behind the banner it plays a node's serial console logged in as root:
it echoes what is typed (a tty would), runs each line with ``/bin/sh``
on Enter, prints the output with ``\\r\\n`` line ends and then the
``root@<node>:~#`` prompt again.

State, in the directory given by ``--state-dir`` (ssh does not forward
the environment):

- ``silent``: node names, one a line, whose console never answers:
  no banner, nothing, until killed;
- ``getty``: node names, one a line, whose console shows a login prompt
  first (after any input, as a serial getty does): ``login: `` (echoed),
  ``Password: `` (not echoed), root / grid5000 opens the shell, anything
  else gets ``Login incorrect`` and the login prompt again;
- ``sessions.log``: one line per run: ``<node> closed`` when left with
  the kill sequence, so that tests see a clean leave.
"""

import argparse
import os
import subprocess
import sys
import termios
import tty

ESCAPE = b"\x1b" * 4


def parse(argv):
    parser = argparse.ArgumentParser(prog="kaconsole3")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("-m", "--machine", action="append", default=[])
    return parser.parse_args(argv)


def out(data):
    os.write(1, data if isinstance(data, bytes) else data.encode())


def listed_nodes(state, name):
    try:
        with open(os.path.join(state, name)) as listing:
            return {line.strip() for line in listing if line.strip()}
    except FileNotFoundError:
        return set()


def silent_nodes(state):
    return listed_nodes(state, "silent")


class KillSequence(Exception):
    """The user typed kaconsole3's kill sequence."""


def read_typed_line(echo):
    """A line typed on the console (None if the terminal went away)."""
    line = bytearray()
    escapes = 0
    while True:
        char = os.read(0, 1)
        if not char:
            return None
        escapes = escapes + 1 if char == b"\x1b" else 0
        if escapes == len(ESCAPE):
            raise KillSequence()
        if char == b"\x1b":
            continue
        if char in (b"\r", b"\n"):
            if echo:
                out(b"\r\n")
            return line.replace(b"\x04", b"").decode(errors="replace")
        line += char
        if echo and char != b"\x04":
            out(char)


def getty(node):
    """The login dialogue of a serial getty; True once logged in."""
    name = node.split(".")[0]
    while True:
        user = read_typed_line(echo=True)
        if user is None:
            return False
        if not user.strip():
            out(("\r\nDebian GNU/Linux 12 %s ttyS0\r\n\r\n%s login: " % (name, name)).encode())
            continue
        out(b"Password: ")
        password = read_typed_line(echo=False)
        if password is None:
            return False
        if (user.strip(), password) == ("root", "grid5000"):
            out(b"\r\n")
            return True
        out(("\r\nLogin incorrect\r\n%s login: " % (name,)).encode())


def log(state, line):
    with open(os.path.join(state, "sessions.log"), "a") as sessions:
        sessions.write(line + "\n")


def run_line(line):
    """The node's shell running one typed line; its output as a tty shows it."""
    result = subprocess.run(["/bin/sh", "-c", line], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return result.stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def console(node, state):
    prompt = ("root@%s:~# " % node.split(".")[0]).encode()
    out(b"[Kaconsole] kill sequence: ^[^[^[^[\r\n")
    try:
        if node in listed_nodes(state, "getty") and not getty(node):
            return 1
    except KillSequence:
        log(state, "%s closed" % node)
        out(b"\r\n")
        return 0
    out(prompt)
    line = bytearray()
    escapes = 0
    while True:
        char = os.read(0, 1)
        if not char:
            return 1  # the terminal went away
        escapes = escapes + 1 if char == b"\x1b" else 0
        if escapes == len(ESCAPE):
            log(state, "%s closed" % node)
            out(b"\r\n")
            return 0
        if char == b"\x1b":
            continue
        if char in (b"\r", b"\n"):
            out(b"\r\n")
            if line.strip():
                out(run_line(line.decode(errors="replace")))
            line.clear()
            out(prompt)
        elif char in (b"\x7f", b"\x08"):
            if line:
                line.pop()
                out(b"\b \b")
        else:
            line += char
            out(char)


def main(argv):
    args = parse(argv)
    if len(args.machine) != 1:
        print("You must choose one node")
        return 1
    if not os.isatty(0):
        print("Kaconsole output must be a TTY.")
        return 1
    node = args.machine[0]
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        if node in silent_nodes(args.state_dir):
            while os.read(0, 1024):
                pass  # typing into a dead console: nothing ever comes back
            return 1
        return console(node, args.state_dir)
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
