"""Finding and signalling the processes a test bed started.

An sshd puts each connection in a session of its own, and a remote
``nohup daemon &`` outlives its shell: neither a process group nor the
process tree alone finds everything a test bed must kill when it stops.
These helpers read ``/proc`` for the two handles that do.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List

__all__ = ["descendants", "marked", "signal_pids", "alive"]


def descendants(root: int) -> List[int]:
    """Pids of ``root``'s descendants, parents before children."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: parse after
        # the last ')'
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    result: List[int] = []
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop(0)
        result.append(pid)
        todo.extend(children.get(pid, ()))
    return result


def marked(marker: bytes) -> List[int]:
    """Pids of the processes whose environment holds ``marker``.

    sshd gives every session the test bed's marker variable, and children
    inherit it: this finds what the process tree cannot, the orphans (a
    remote ``nohup daemon &`` whose shell has exited, the ssh watchdogs).
    """
    if not marker.startswith(b"EXECO_TESTBED=/"):
        return []  # never a pattern that would match unrelated processes
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as environ:
                if marker in environ.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def signal_pids(pids: Iterable[int], sig: int) -> None:
    """Send ``sig`` to each pid, ignoring those already gone."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as stat_file:
            stat = stat_file.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] != b"Z"
