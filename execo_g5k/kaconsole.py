"""kaconsole3: typing on a Grid5000 node's serial console from a script.

A console is the way into a node that ssh cannot reach (a deployment
whose network setup failed, a kernel under test that hangs at boot).
`KaconsoleProcess` runs ``kaconsole3 -m <node>`` on the frontend of the
node's site, as `execo_g5k.frontend.frontend_process` runs any frontend
command (through ssh, or directly when we are on that frontend), always
on a pseudo-terminal: kaconsole3 refuses to run without one. The script
then drives the console pexpect-style: `wait_connected`, `expect_prompt`,
`write`, `expect`, and `close` to leave.

What kaconsole3 (kadeploy >= 3.2, ``bin/kaconsole3`` in the kadeploy
sources) does, which this module relies on:

- it asks the kadeploy server for a console of the node, connects to the
  TCP relay the server opens, and only then prints the banner
  ``[Kaconsole] kill sequence: ^[^[^[^[``; from there on, everything the
  node's console prints is relayed to our pty;
- it puts its terminal in raw mode and forwards every byte typed; the
  node's tty does the echoing, so typed commands come back in the output;
- it leaves when it reads its kill sequence, four ESC characters in a row
  (``\\x1b\\x1b\\x1b\\x1b``, also forwarded to the node), then deletes the
  console on the server and exits 0;
- a second client for a console already in use gets
  ``[Kaconsole] console already attached``, and a console killed on the
  server side prints ``[Kaconsole] client killed``.

Behind the relay, Grid5000 sites usually run conman, whose own banner
``<ConMan> Connection to console [node] opened.`` is also accepted as
"connected" (execo 2.x waited for that one). A serial console only shows
a prompt when something is printed: if `expect_prompt` sees nothing,
``write("\\r")`` makes the node's shell (or getty) print it again. Logging
in on a getty is left to the script (``write("root\\r")``...), as the
password differs between environments.

Failures are recorded, never raised: an unreachable frontend, a
kaconsole3 error, or no banner within ``connection_timeout`` leave the
process ended (killed if needed) with ``error`` set and a sentence in
``connection_error`` and ``error_reason``. Only a node whose site cannot
be found raises, at creation, since there is no frontend to run on.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from typing import Any, List, Mapping, Match, Optional, Tuple

from execo.host import Host, HostLike
from execo.log import logger, style
from execo.output import STDOUT, compile_regexes
from execo.process import Process
from execo.process_base import ProcessLifecycleHandler
from execo.ssh import SshProcess, ssh_failure_reason
from execo.time_utils import get_seconds
from execo_g5k.config import g5k_configuration
from execo_g5k.frontend import frontend_process, get_host_frontend_site
from execo_g5k.exception import G5kValueError

__all__ = ["KaconsoleProcess", "KaconsoleProcessLifecycleHandler", "KACONSOLE_ESCAPE_SEQUENCE",
           "kaconsole_command"]

#: What kaconsole3 reads as "leave the console": four ESC in a row.
KACONSOLE_ESCAPE_SEQUENCE = "\x1b" * 4

# kaconsole3's own banner, or conman's (older kadeploy, execo 2.x's cue).
_CONNECTED = re.compile(r"\[Kaconsole\] kill sequence|Connection to console .* opened")
_ALREADY_ATTACHED = re.compile(r"\[Kaconsole\] console already attached")

# How long close() lets kaconsole3 leave after the kill sequence before
# killing it: it only has to tell the kadeploy server.
CLOSE_TIMEOUT = 10.0


def kaconsole_command(address: str) -> str:
    """The shell command opening the console of ``address`` on its frontend.

    ``g5k_configuration['kaconsole3']`` (default ``kaconsole3``) names the tool.

    >>> kaconsole_command("griffon-1.nancy.grid5000.fr")
    'kaconsole3 -m griffon-1.nancy.grid5000.fr'
    """
    tool = g5k_configuration.get('kaconsole3') or 'kaconsole3'
    return "%s -m %s" % (tool, shlex.quote(address))


class KaconsoleProcess(Process):
    """A console session on a node, through kaconsole3 on its site's frontend.

    >>> with KaconsoleProcess("griffon-1.nancy.grid5000.fr") as console:  # doctest: +SKIP
    ...     console.wait_connected().write("\\r")
    ...     console.expect_prompt(timeout=30)
    ...     console.write("uname -r\\r")
    ...     console.expect(r"\\d+\\.\\d+\\S*")

    Entering the ``with`` block starts the process; leaving it closes the
    console (`close`). Expects are per thread: call `wait_connected`,
    `expect_prompt` and `expect` from the same thread, so that each one
    searches the output after the previous match.

    :param host: the node whose console is wanted.
    :param frontend_connection_params: connection params for the frontend,
      over `execo_g5k.config.default_frontend_connection_params`; ``pty``
      is forced on.
    :param connection_timeout: seconds `wait_connected` waits by default
      for kaconsole3's banner.
    :param prompt: regex of the node's shell prompt, for `expect_prompt`.
    :param kwargs: `execo.process.Process` options (``timeout``,
      handlers, ``nolog_*``...).

    Attributes: ``console_host`` (the node, a `Host`), ``frontend`` (its
    site), ``connected``, ``connection_error`` (None, or why the console
    could not be used). ``host`` is the frontend's `Host` once started
    through ssh, as for any remote process.
    """

    def __init__(self, host: HostLike,
                 frontend_connection_params: Optional[Mapping[str, Any]] = None,
                 connection_timeout: Any = 20, prompt: str = r'root@[^#]*#',
                 **kwargs: Any) -> None:
        self.console_host = Host(host)
        site = get_host_frontend_site(self.console_host.address)
        if site is None:
            raise G5kValueError("no site known for %r, so no frontend to run kaconsole3 on: give "
                             "a name under <site>.grid5000.fr or set "
                             "g5k_configuration['host_site_func']" % (self.console_host.address,))
        self.frontend = site
        self.frontend_connection_params = frontend_connection_params
        self.connection_timeout = get_seconds(connection_timeout)
        self.prompt = prompt
        kwargs.pop('shell', None)
        kwargs.pop('pty', None)
        kwargs.setdefault('name', "kaconsole3 %s on %s" % (self.console_host.address, site))
        super().__init__(kaconsole_command(self.console_host.address), pty=True, **kwargs)

    @property
    def kaconsole_host(self) -> Host:
        """The node (execo 2.x's name for `console_host`)."""
        return self.console_host

    def _reset_state(self) -> None:
        super()._reset_state()
        self.connected = False
        self.connection_error: Optional[str] = None
        # set by KaconsoleProcessLifecycleHandler once logged in on a getty
        self.logged_in = threading.Event()
        self.login_finished = threading.Event()  # logged in or failed
        self.login_error: Optional[str] = None
        self._carrier: Optional[Process] = None

    # ---- spawning: the frontend machinery decides ssh or not -----------

    def _spawn_args(self) -> Any:
        # Decided at each start, from the configuration of that moment.
        carrier = frontend_process(self.cmd, self.frontend, self.frontend_connection_params,
                                   timeout=None, pty=True)
        self._carrier = carrier
        self.shell = carrier.shell
        args = carrier._spawn_args()
        self.pty = True
        if isinstance(carrier, SshProcess):
            self.host = carrier.host
        return args

    def _failure_reason(self, exit_code: Optional[int]) -> Optional[str]:
        if (isinstance(self._carrier, SshProcess) and exit_code == 255
                and self.connection_error is None and not self.killed):
            return ssh_failure_reason(self.host, self.stderr)
        return self.connection_error

    # ---- the console ------------------------------------------------------

    def start(self) -> "KaconsoleProcess":
        super().start()
        return self

    def wait_connected(self, timeout: Any = None) -> "KaconsoleProcess":
        """Wait until kaconsole3 says the console is connected (or the prompt
        shows), at most ``timeout`` seconds (None: ``connection_timeout``).

        On failure the process is ended (killed if still running), and
        ``connection_error``, ``error`` and ``error_reason`` say why; check
        ``connected``. Returns self, for chaining.
        """
        if not self.started:
            raise G5kValueError("cannot wait for the console of %s: %s was not started"
                             % (self.console_host.address, self.name))
        if self.connected:
            return self
        if self.connection_error is not None:
            return self
        timeout = self.connection_timeout if timeout is None else get_seconds(timeout)
        # Not self.expect(): a miss is reported below, better than as an
        # expect failure.
        found = self.watch_expect(STDOUT).expect(
            compile_regexes([_CONNECTED, _ALREADY_ATTACHED, self.prompt]), timeout,
            only=(self, STDOUT)).get((self, STDOUT))
        index = found[0] if found else None
        if index in (0, 2):
            self.connected = True
            logger.debug("console of %s connected", self.console_host.address)
            return self
        if index == 1:
            why = "the console is already attached to another kaconsole3 client"
        else:
            why = None
        self._fail_connection(why, timeout)
        return self

    def _fail_connection(self, why: Optional[str], timeout: Optional[float]) -> None:
        """Record why the console cannot be used, and make sure it is ended."""
        if why is None and not self.ended and not self._dispatchers[STDOUT].eof:
            why = "no answer from kaconsole3 within %s s" % (timeout,)
        if why is not None:
            self.connection_error = "console of %s via frontend %s: %s" % (
                self.console_host.address, self.frontend, why)
            self.kill()
        self.wait(CLOSE_TIMEOUT)
        if self.running:
            self.kill()
            self.wait(CLOSE_TIMEOUT)
        if why is None:
            # It ended on its own: say how, in the words of whoever failed.
            self.connection_error = "console of %s via frontend %s: %s" % (
                self.console_host.address, self.frontend, self._end_description())
            with self._lock:
                if not self.error:
                    self.error = True
                    self.error_reason = self.connection_error
        logger.warning("%s %s", style.emph("kaconsole3:"), self.connection_error)

    def _end_description(self) -> str:
        if self.error_reason:
            return self.error_reason
        if not self.ended:
            return "kaconsole3 closed its output without connecting"
        said = [line.strip() for line in (self.stderr + "\n" + self.stdout).splitlines()
                if line.strip()]
        return "kaconsole3 exited with code %s before connecting%s" % (
            self.exit_code, (": " + said[-1]) if said else "")

    def expect_prompt(self, timeout: Any = None) -> Tuple[Optional[int], Optional[Match]]:
        """Wait for the ``prompt`` regex in the console's output, at most
        ``timeout`` seconds in all (None: no limit), connecting first if
        not yet done. Returns `expect`'s ``(index, match)``, ``(None,
        None)`` on failure."""
        timeout = get_seconds(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.connected:
            self.wait_connected(timeout)
            if not self.connected:
                return None, None
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.expect(self.prompt, timeout=remaining)

    def close(self, timeout: Any = CLOSE_TIMEOUT) -> "KaconsoleProcess":
        """Leave the console as a user would, with kaconsole3's kill
        sequence, so that the server frees it for the next client; kill
        kaconsole3 if it is still there after ``timeout`` seconds.
        """
        if not self.running:
            return self
        self.write(KACONSOLE_ESCAPE_SEQUENCE)
        self.wait(timeout)
        if self.running:
            logger.debug("kaconsole3 %s still running %s s after the kill sequence: killing it",
                         self.console_host.address, timeout)
            self.kill()
            self.wait(CLOSE_TIMEOUT)
        return self

    def __enter__(self) -> "KaconsoleProcess":
        if not self.started:
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        self.close()
        return False

    def _args(self) -> List[str]:
        args = [repr(self.console_host.address)]
        if self.frontend_connection_params:
            args.append("frontend_connection_params=%r" % (self.frontend_connection_params,))
        args.append("connection_timeout=%r" % (self.connection_timeout,))
        args.append("prompt=%r" % (self.prompt,))
        return args

    def _infos(self) -> List[str]:
        infos = super()._infos() + ["frontend=%s" % (self.frontend,),
                                    "connected=%s" % (self.connected,)]
        if self.connection_error is not None:
            infos.append("connection_error=%s" % (self.connection_error,))
        return infos


class KaconsoleProcessLifecycleHandler(ProcessLifecycleHandler):
    """Logs in on a getty console as soon as a `KaconsoleProcess` starts,
    as execo 2.x did for every console (here it is opt-in:
    ``KaconsoleProcess(node, lifecycle_handlers=[KaconsoleProcessLifecycleHandler()])``).

    Once kaconsole3 is connected it types two ``^D`` (leaving a session a
    previous user left open, and making getty print its prompt), then the
    user at ``login: `` and the password at ``Password: ``. Credentials:
    the process's ``console_connection_params`` if it has them, else the
    ones given here (2.x's defaults: root / grid5000). Logged in means the
    shell ``prompt`` showed after the password. ``start`` is called from
    the conductor thread, so the dialogue runs in a thread of its own; the
    process's ``logged_in`` event is set when it succeeded,
    ``login_finished`` when it is over either way, and ``login_error`` says
    why it failed. Everything is bounded by the
    process's ``connection_timeout``.
    """

    def __init__(self, user: str = 'root', password: str = 'grid5000') -> None:
        self.user = user
        self.password = password

    def start(self, p: Any) -> None:
        threading.Thread(target=self._log_in, args=(p,), daemon=True,
                         name="kaconsole-login %s" % (getattr(p, 'console_host', p),)).start()

    def _log_in(self, p: Any) -> None:
        params = getattr(p, 'console_connection_params', None) or {}
        user = params.get('user', self.user)
        password = params.get('password', self.password)
        timeout = getattr(p, 'connection_timeout', None)
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining() -> Optional[float]:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        try:
            p.wait_connected(remaining())
            if not p.connected:
                p.login_error = p.connection_error or "console not connected"
                return
            p.write("\x04\n\x04\n")
            for prompt, answer in (("login: ", user), ("Password: ", password)):
                if p.expect(prompt, timeout=remaining()) == (None, None):
                    p.login_error = "no %r on the console of %s" % (
                        prompt.strip(), p.console_host.address)
                    return
                p.write(answer + "\n")
            index, _ = p.expect([p.prompt, r"Login incorrect"], timeout=remaining())
            if index == 0:
                p.logged_in.set()
            else:
                p.login_error = "login as %r on the console of %s %s" % (
                    user, p.console_host.address, "refused" if index == 1 else "timed out")
        except Exception as exc:  # reported on the process, not lost in a thread
            p.login_error = "login on the console failed: %s" % (exc,)
        finally:
            if p.login_error:
                logger.warning("%s %s", style.emph("kaconsole3:"), p.login_error)
            p.login_finished.set()
