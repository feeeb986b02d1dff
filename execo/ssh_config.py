"""Where an ssh config alias leads: the sshd a host name reaches.

The per-endpoint gate (`execo.endpoint_gate`) counts connection set-ups
per sshd, and a test bed or a user's config often gives many names to one
sshd (``node-1`` ... ``node-200`` all ``HostName 127.0.0.1``). Running
``ssh -G`` per host would cost a process per host, so the config file
given with ``-F`` is read here, once per change of the file, for its plain
``Host`` blocks: names without wildcards, their ``HostName`` and ``Port``
(first value wins, as for ssh). Anything subtler (``Match``, patterns,
``Include``) is ignored: such a host counts as its own endpoint, which
only makes the gate looser, never stricter, than the truth.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, List, Mapping, Optional, Tuple

__all__ = ["HostEntries", "config_entries", "config_file", "endpoint", "endpoint_in"]

# alias -> (HostName, Port), either None where the block does not say
HostEntries = Mapping[str, Tuple[Optional[str], Optional[int]]]
_cache: Dict[str, Tuple[int, HostEntries]] = {}
_lock = threading.Lock()


def config_file(options: List[str]) -> Optional[str]:
    """The file an ssh command line's ``-F`` names (ssh reads the last).

    >>> config_file(['-o', 'A=b', '-F', '/x/ssh_config'])
    '/x/ssh_config'
    """
    found = None
    for index, word in enumerate(options):
        if word == "-F" and index + 1 < len(options):
            found = options[index + 1]
        elif word.startswith("-F") and len(word) > 2:
            found = word[2:]
    return found


def endpoint(address: str, port: Optional[int], path: Optional[str]) -> Tuple[str, int]:
    """(address, port) that ``address`` reaches through the config ``path``.

    >>> endpoint("n1", None, None)
    ('n1', 22)
    """
    return endpoint_in(config_entries(path), address, port)


def endpoint_in(hosts: HostEntries, address: str, port: Optional[int]) -> Tuple[str, int]:
    """`endpoint` with the config file already read (`config_entries`)."""
    hostname, config_port = hosts.get(address, (None, None))
    chosen = port if port is not None else config_port
    return (hostname or address, int(chosen) if chosen is not None else 22)


def config_entries(path: Optional[str]) -> HostEntries:
    """The plain ``Host`` blocks of the config file ``path`` (none: empty),
    read again only when the file changed."""
    if not path:
        return {}
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return {}
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    entries = _parse(path)
    with _lock:
        _cache[path] = (stamp, entries)
    return entries


def _parse(path: str) -> HostEntries:
    entries: Dict[str, List] = {}
    current: List[str] = []
    try:
        with open(path) as config:
            lines = config.read().splitlines()
    except OSError:
        return {}
    for line in lines:
        words = line.strip().replace("=", " ", 1).split()
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].lower()
        if keyword in ("host", "match"):
            plain = keyword == "host"
            current = [name for name in words[1:] if plain and not set(name) & set("*?!")]
            for name in current:
                entries.setdefault(name, [None, None])
        elif keyword in ("hostname", "port") and len(words) > 1:
            for name in current:
                slot = 0 if keyword == "hostname" else 1
                if entries[name][slot] is None:
                    entries[name][slot] = words[1] if slot == 0 else \
                        (int(words[1]) if words[1].isdigit() else None)
    return {name: (value[0], value[1]) for name, value in entries.items()}
