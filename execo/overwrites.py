"""Copies from several hosts that landed on the same local path.

``Get(hosts, ["/tmp/out.log"], "results/")`` without ``{{{host}}}`` in
the destination makes every host write ``results/out.log``: execo 2.x let
the copies overwrite each other without a word, and scripts rely on the
result (one copy), so it is kept; but a run that lost data says so, once
per action, naming the hosts whose copies were overwritten.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

from execo.log import logger
from execo.nodeset import fold_hosts
from execo.process_base import ProcessBase

__all__ = ["local_target", "overwritten_copies", "warn_overwritten_copies"]


def local_target(source: str, destination: str) -> str:
    """Where a copy of remote ``source`` lands for local ``destination``, as
    scp decides: inside it when it is a directory, else at it.

    >>> local_target("/var/log/syslog", "/")
    '/syslog'
    """
    if os.path.isdir(destination):
        destination = os.path.join(destination, os.path.basename(source.rstrip("/")))
    return os.path.normpath(os.path.abspath(destination))


def overwritten_copies(processes: Sequence[ProcessBase],
                       routes: Sequence[Tuple[Sequence[str], str]]
                       ) -> Tuple[List[str], Optional[str], List[str]]:
    """(hosts whose copies were overwritten, the host whose copies remain,
    the shared local paths) over the processes that succeeded; the copy
    that remains is taken to be that of the process that ended last."""
    writers: Dict[str, List[ProcessBase]] = {}
    for process, (sources, destination) in zip(processes, routes):
        if process.ok:
            for source in sources:
                writers.setdefault(local_target(source, destination), []).append(process)
    shared = {path: group for path, group in writers.items() if len(group) > 1}
    if not shared:
        return [], None, []
    everyone = {id(p): p for group in shared.values() for p in group}.values()
    last = max(everyone, key=lambda p: p.end_date or 0.0)
    lost = [_name(p) for p in everyone if p is not last]
    return lost, _name(last), sorted(shared)


def warn_overwritten_copies(name: str, processes: Sequence[ProcessBase],
                            routes: Sequence[Tuple[Sequence[str], str]]) -> None:
    """Log one warning if copies of several hosts landed on the same paths."""
    if len(processes) != len(routes):  # processes replaced by the script
        return
    lost, kept, paths = overwritten_copies(processes, routes)
    if not lost:
        return
    shown = ", ".join(paths[:3]) + (" and %d more" % (len(paths) - 3) if len(paths) > 3 else "")
    logger.warning("%s: the copies of %s were overwritten by those of %s (the last to end) "
                   "in %s: put {{{host}}} in the local destination to keep one per host",
                   name, fold_hosts(lost), kept, shown)


def _name(process: ProcessBase) -> str:
    host = getattr(process, "host", None)
    return str(getattr(host, "address", host))
