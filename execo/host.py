"""Host: a machine to connect to, and the lists of them that actions take.

A host is a value: two hosts with the same address, user, keyfile and port
are the same key in a set or a dict, so that results gathered per host can
be looked up with a freshly built ``Host`` or with a plain string.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, List, Optional, Set, Union

from execo.log import style
from execo.exception import ExecoTypeError
from execo.nodeset import expand_nodeset, is_nodeset

__all__ = ["Host", "HostLike", "check_address", "get_hosts_list", "get_hosts_set",
           "get_unique_hosts_list", "unbracketed"]


def _unset_to_none(value: Any) -> Any:
    # execo 2.x spelled "not given" False; both mean: use the connection
    # params' value. An explicit 0 port or empty user is kept as is.
    return None if value is False else value


# What a host address may hold: the characters of names and IP addresses,
# an IPv6 zone, one login. taktuk hands the address to /bin/sh inside its
# connector command, and ssh's ProxyCommand expands it: anything else could
# be read there as shell syntax, so it is refused whatever the transport.
_ZONE = r"(?:%[A-Za-z0-9._-]+)?"
_NAME = r"[A-Za-z0-9._:-]+" + _ZONE
_IPV6_BRACKETED = r"\[[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*" + _ZONE + r"\]"
_ADDRESS = re.compile(r"(?:[A-Za-z0-9._-]+@)?(?:%s|%s)\Z" % (_NAME, _IPV6_BRACKETED))
_ALLOWED = ("letters, digits, '.', '-', '_', ':' (IPv6), an optional '%zone' and at most "
            "one 'user@' prefix")


def check_address(address: str) -> str:
    """``address``, if no command line or shell can read it as an option
    or as shell syntax.

    A bracketed IPv6 literal (``[::1]``) is kept for ssh and scp (execo
    hands ssh the address without its brackets); taktuk refuses it.

    >>> check_address("-oProxyCommand=x")
    Traceback (most recent call last):
    ...
    ValueError: host address '-oProxyCommand=x' starts with '-': ssh, scp and taktuk would read it as an option
    >>> check_address("n1;touch${IFS}X")
    Traceback (most recent call last):
    ...
    ValueError: host address 'n1;touch${IFS}X' holds ';': a host address is letters, digits, '.', '-', '_', ':' (IPv6), an optional '%zone' and at most one 'user@' prefix; the rest could reach a shell
    """
    if address.startswith("-"):
        raise ValueError("host address %r starts with '-': ssh, scp and taktuk would read it "
                         "as an option" % (address,))
    if not _ADDRESS.match(address):
        bad = next((c for c in address if not (c.isascii() and (c.isalnum() or c in "._:-%@"))),
                   None)
        what = "holds %r" % (bad,) if bad is not None else "is malformed"
        raise ValueError("host address %r %s: a host address is %s; the rest could reach a "
                         "shell" % (address, what, _ALLOWED))
    return address


def unbracketed(address: str) -> str:
    """``address`` without the brackets of an IPv6 literal (``[::1]`` ->
    ``::1``), as ssh wants it.

    >>> unbracketed("u@[fe80::1%eth0]"), unbracketed("node-1")
    ('u@fe80::1%eth0', 'node-1')
    """
    user, at, rest = address.rpartition("@")
    if rest.startswith("[") and rest.endswith("]"):
        return user + at + rest[1:-1]
    return address


class Host:
    """An address plus the optional user, keyfile and port to reach it.

    The user, keyfile and port of a host win over those of the connection
    params, so one odd machine in a list can have its own login.

    >>> Host("node-1", user="root") == Host(Host("node-1"), user="root")
    True
    >>> Host("node-1", port=2222)
    Host('node-1', port=2222)

    :param address: a name or IP address, or a `Host` to copy (the other
      arguments then override the copied fields).
    :param user, keyfile, port: None or False (the 2.x spelling) leave them
      to the connection params.
    """

    __slots__ = ("address", "user", "keyfile", "port")

    def __init__(self, address: Union[str, "Host"], user: Union[None, bool, str] = False,
                 keyfile: Union[None, bool, str] = False,
                 port: Union[None, bool, int] = False) -> None:
        if isinstance(address, Host):
            self.address: str = address.address
            self.user: Optional[str] = address.user
            self.keyfile: Optional[str] = address.keyfile
            self.port: Optional[int] = address.port
        elif isinstance(address, str) and address:
            self.address = check_address(address)
            self.user = self.keyfile = self.port = None
        else:
            raise ExecoTypeError("a host address is a non-empty string or a Host, not %r"
                            % (address,))
        user, keyfile, port = map(_unset_to_none, (user, keyfile, port))
        if user is not None:
            self.user = user
        if keyfile is not None:
            self.keyfile = keyfile
        if port is not None:
            self.port = int(port)

    def _key(self) -> tuple:
        return (self.address, self.user, self.keyfile, self.port)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Host):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        args = [style.host(repr(self.address))]
        for field in ("user", "keyfile", "port"):
            value = getattr(self, field)
            if value is not None:
                args.append("%s=%r" % (field, value))
        return "Host(%s)" % ", ".join(args)

    def __str__(self) -> str:
        return self.address


HostLike = Union[str, Host]


def get_hosts_list(hosts: Iterable[HostLike]) -> List[Host]:
    """Copy ``hosts`` (strings or Hosts) into a new list of `Host`, in order.

    A single string is one host, not a sequence of one-letter names,
    unless it is written as a node set (``node-[1-3]``, ``a,b``: see
    `execo.nodeset`), which stands for its hosts, alone or in a list.

    >>> get_hosts_list(["node-1", Host("node-2", user="root")])
    [Host('node-1'), Host('node-2', user='root')]
    >>> get_hosts_list("node-[1-2],host1")
    [Host('node-1'), Host('node-2'), Host('host1')]
    """
    if isinstance(hosts, (str, Host)):
        hosts = [hosts]
    elif not isinstance(hosts, Iterable):
        raise ExecoTypeError("hosts are a host, a node set or an iterable of them, not %r"
                             % (hosts,))
    result = []
    for host in hosts:
        if isinstance(host, str) and is_nodeset(host):
            result.extend(Host(name) for name in expand_nodeset(host))
        else:
            result.append(Host(host))
    return result


def get_unique_hosts_list(hosts: Iterable[HostLike]) -> List[Host]:
    """`get_hosts_list` without duplicates, first occurrence kept."""
    return list(dict.fromkeys(get_hosts_list(hosts)))


def get_hosts_set(hosts: Iterable[HostLike]) -> Set[Host]:
    """Copy ``hosts`` (strings or Hosts) into a set of `Host`.

    >>> get_hosts_set(["node-1", "node-1"]) == {Host("node-1")}
    True
    """
    return set(get_hosts_list(hosts))


# execo 2.x names this module served (see execo.compat)
from execo.compat import legacy_dir, legacy_getattr  # noqa: E402
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
