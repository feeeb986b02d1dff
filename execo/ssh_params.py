"""ssh's and scp's connection params: their defaults and documentation,
declared beside the transport (`execo.ssh`) that reads them.
"""

from __future__ import annotations

from execo.config import declare_connection_params

__all__ = ["NONINTERACTIVE_SSH_OPTIONS"]

# Options that keep a testbed run unattended: never prompt for a password or
# a host key, give up on a silent host after ConnectTimeout seconds, and
# notice a dead peer through keepalives instead of hanging for hours. Host
# keys are not checked: testbed nodes are redeployed and change keys (see
# doc/failures.rst for the trade-off and how to check them). Nodes are
# shared machines: the user's agent and display are never forwarded. The
# key exchange prefers curve25519: OpenSSH 9's default (sntrup761, post-
# quantum) costs the client about 3x more CPU per connection, which is what
# limits a fan-out to hundreds of hosts (see BENCHMARKS.md). An explicit
# list, not '^...', so that older clients accept it.
_FAST_KEX = ("curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
             "ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group16-sha512,"
             "diffie-hellman-group14-sha256")
NONINTERACTIVE_SSH_OPTIONS = (
    '-o', 'KexAlgorithms=' + _FAST_KEX,
    '-o', 'BatchMode=yes',
    '-o', 'PasswordAuthentication=no',
    '-o', 'ForwardAgent=no',
    '-o', 'ForwardX11=no',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=20',
    '-o', 'ServerAliveInterval=20',
    '-o', 'ServerAliveCountMax=3',
)

# ssh's and scp's connection params, documented beside the builders below
declare_connection_params({
    'ssh': 'ssh',
    'scp': 'scp',
    'ssh_options': NONINTERACTIVE_SSH_OPTIONS,
    'scp_options': NONINTERACTIVE_SSH_OPTIONS + ('-r', '-p'),
    'pty': False,
    'kill_remote_on_disconnect': True,
    'connection_sharing': False,
    'gateway': None,
    'max_setups_per_endpoint': 8,
}, {
    'ssh': "ssh client command",
    'scp': "scp client command",
    'ssh_options': "options given to ssh before the host (one string, or a sequence of "
                   "words)",
    'scp_options': "options given to scp",
    'pty': "allocate a remote pseudo-terminal (ssh -tt), as execo 2.x did",
    'kill_remote_on_disconnect': "prefix remote commands with a small sh watchdog that "
                                 "SIGHUPs them when their ssh connection is gone, so that "
                                 "they can be killed without a pty (execo.ssh); needs a "
                                 "POSIX login shell",
    'connection_sharing': "opt-in ssh ControlMaster: False, or seconds a shared connection "
                          "stays open after its last use (True: 60); killing a remote "
                          "command then needs 'pty': True",
    'gateway': "host every connection goes through ('[user@]host[:port]', an ssh config "
               "alias or a Host): ssh, scp and taktuk reach the hosts through its sshd, as "
               "from outside Grid5000 through its access machine; None: direct",
    'max_setups_per_endpoint': "at most this many connection set-ups in flight per sshd "
                               "(the gateway's when there is one), the others wait: below "
                               "sshd's MaxStartups (10 by default), which refuses the "
                               "excess before authentication; None: no limit "
                               "(execo.endpoint_gate)",
})
