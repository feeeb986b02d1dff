"""What every kind of test bed offers a script: an ssh client config where
the host names lead to the bed, connection params that use it, and a way
to install those params in execo's defaults and to take them back.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Sequence

import execo.config as config

__all__ = ["TestbedBase", "without_config_file", "connection_params_for", "ssh_host_entry"]

_MISSING = object()


def without_config_file(options: Sequence[str]) -> tuple:
    """``options`` minus any ``-F file``: ssh reads only one config file (the
    last given), and a test bed's must be that one, even if another test
    bed is installed in the defaults."""
    result: List[str] = []
    skip = False
    for option in options:
        if skip:
            skip = False
        elif option == "-F":
            skip = True
        elif not option.startswith("-F"):
            result.append(option)
    return tuple(result)


def connection_params_for(ssh_config: str) -> Dict[str, Any]:
    """Connection params that make ssh, scp and taktuk read ``ssh_config``."""
    return {option: ('-F', ssh_config)
            + without_config_file(config.default_connection_params[option])
            for option in ('ssh_options', 'scp_options', 'taktuk_connector_options')}


def ssh_host_entry(name: str, hostname: str, port: int, user: str, keyfile: str,
                   options: Dict[str, Any]) -> str:
    """One ``Host`` block of a test bed's client config: the bed's key, no
    known_hosts (keys are new each time), never a prompt."""
    lines = [
        "Host %s" % name,
        "    HostName %s" % hostname,
        "    Port %d" % port,
        "    User %s" % user,
        "    IdentityFile %s" % keyfile,
        "    IdentitiesOnly yes",
        "    StrictHostKeyChecking no",
        "    UserKnownHostsFile /dev/null",
        "    BatchMode yes",
        "    LogLevel ERROR",
    ]
    lines += ["    %s %s" % item for item in options.items()]
    return "\n".join(lines)


class TestbedBase:
    """Defaults handling and the context manager protocol; subclasses
    provide `start`, `stop` and fill ``connection_params``."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self) -> None:
        self.connection_params: Dict[str, Any] = {}
        self._saved_defaults: Optional[Dict[str, Any]] = None
        self._defaults_lock = threading.Lock()

    def start(self) -> "TestbedBase":
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def install(self) -> Any:
        """Merge ``connection_params`` into `execo.config.default_connection_params`,
        so that unmodified scripts reach the bed's hosts. Undone by `uninstall`."""
        defaults = config.default_connection_params
        with self._defaults_lock:
            if self._saved_defaults is None:
                self._saved_defaults = {key: defaults.get(key, _MISSING)
                                        for key in self.connection_params}
            defaults.update(self.connection_params)
        return self

    def uninstall(self) -> None:
        """Put back the defaults `install` changed, exactly as they were."""
        defaults = config.default_connection_params
        with self._defaults_lock:
            if self._saved_defaults is None:
                return
            for key, value in self._saved_defaults.items():
                if value is _MISSING:
                    defaults.pop(key, None)
                else:
                    defaults[key] = value
            self._saved_defaults = None
