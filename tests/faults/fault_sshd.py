"""A test-only ssh server that misbehaves on demand (paramiko's server mode).

A real sshd on loopback cannot be made to send ``exit-signal`` without a
command dying, to close a channel without an exit status, or to go silent in
the middle of its key exchange. This one does, so that the library is tested
against the faults a flaky node shows, with the real ``ssh``/``scp``/
``taktuk`` clients. paramiko answers keepalives in its own thread: a hung
host is played by stopping this whole process (SIGSTOP), which is why it
runs as a process of its own, started and stopped by pid by the tests.

Usage: ``python3 fault_sshd.py MODE HOST_KEY_FILE``. It listens on a free
port of 127.0.0.1 and prints ``port N``, then one ``event ...`` line on
stdout for each step a test may wait for (no sleep is needed to
synchronise). Any user and any client is let in (``none`` authentication).

Modes, each applied to an ``exec`` request and to the ``sftp`` subsystem
that OpenSSH 9's scp asks for:

``no-banner``
    accepts TCP and never sends the ssh banner.
``kex-silence``
    sends the banner, then reads the client's key exchange and answers
    nothing.
``close-without-status``
    authenticates, sends a line on stdout, closes the channel without an
    exit status.
``exit-signal``
    sends a line, then ``exit-signal`` KILL (as sshd does when the remote
    command is killed by SIGKILL) and closes the channel.
``trickle``
    sends ``line N`` every 0.1 s until the connection ends; the test
    freezes the process (SIGSTOP) once it has seen some lines. On the sftp
    subsystem it sends nothing (a stalled transfer).
``reset``
    trickles like ``trickle``; on SIGUSR1 the process exits at once and,
    its sockets set to linger 0, the kernel resets every connection.
``huge-stderr``
    sends ``HUGE_STDERR_LINES`` numbered lines on stderr, nothing on
    stdout, exit status 0. On the sftp subsystem it relays a real
    ``sftp-server`` (the transfer works) after the stderr lines.
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import paramiko

__all__ = ["HUGE_STDERR_LINES", "MODES", "huge_stderr_text"]

MODES = ("no-banner", "kex-silence", "close-without-status", "exit-signal", "trickle", "reset",
         "huge-stderr")
HUGE_STDERR_LINES = 200_000  # 5.4 MB: far more than any pipe or ssh window holds
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
_print_lock = threading.Lock()


def huge_stderr_text() -> str:
    return "".join("stderr line %07d\n" % i for i in range(HUGE_STDERR_LINES))


def event(text: str) -> None:
    with _print_lock:
        sys.stdout.write("event %s\n" % text)
        sys.stdout.flush()


def send_exit_signal(channel: paramiko.Channel, name: str) -> None:
    """RFC 4254 6.10: paramiko has no call for it, so the message is built
    as paramiko builds its ``exit-status`` one."""
    message = paramiko.Message()
    message.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("exit-signal")
    message.add_boolean(False)
    message.add_string(name)
    message.add_boolean(False)  # no core dumped
    message.add_string("")
    message.add_string("")
    channel.transport._send_user_message(message)


class FaultyServer(paramiko.ServerInterface):
    """Lets anyone in and records what the session asks for."""

    def __init__(self) -> None:
        self.request = threading.Event()
        self.kind = None

    def get_allowed_auths(self, username):
        return "none"

    def check_auth_none(self, username):
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_env_request(self, channel, name, value):
        return True

    def check_channel_exec_request(self, channel, command):
        self.kind = "exec"
        self.request.set()
        return True

    def check_channel_subsystem_request(self, channel, name):
        if name != "sftp":
            return False
        self.kind = "sftp"
        self.request.set()
        return True


def trickle(channel: paramiko.Channel) -> None:
    number = 0
    while not channel.closed:
        number += 1
        try:
            channel.sendall(b"line %d\n" % number)
        except (OSError, EOFError, paramiko.SSHException):
            return
        event("sent line %d" % number)
        time.sleep(0.1)  # the pace of a slow command, not a synchronisation


def relay_sftp(channel: paramiko.Channel) -> int:
    """Pipe the channel through a real sftp-server; its exit status."""
    server = subprocess.Popen([SFTP_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def upstream() -> None:
        while True:
            data = channel.recv(65536)
            if not data:
                break
            server.stdin.write(data)
            server.stdin.flush()
        server.stdin.close()

    thread = threading.Thread(target=upstream, daemon=True)
    thread.start()
    while True:
        data = server.stdout.read1(65536)
        if not data:
            break
        channel.sendall(data)
    return server.wait()


def serve_session(mode: str, channel: paramiko.Channel, kind: str) -> None:
    if mode == "close-without-status":
        if kind == "exec":
            channel.sendall(b"started\n")
        event("closing")
        channel.close()
    elif mode == "exit-signal":
        if kind == "exec":
            channel.sendall(b"started\n")
        send_exit_signal(channel, "KILL")
        event("signalled")
        channel.close()
    elif mode in ("trickle", "reset"):
        event("session %s" % kind)
        if kind == "exec":
            trickle(channel)
    elif mode == "huge-stderr":
        channel.sendall_stderr(huge_stderr_text().encode())
        event("stderr sent")
        status = relay_sftp(channel) if kind == "sftp" else 0
        channel.send_exit_status(status)
        channel.close()


def serve_connection(mode: str, sock: socket.socket, host_key: paramiko.PKey) -> None:
    if mode == "no-banner" or mode == "kex-silence":
        if mode == "kex-silence":
            sock.sendall(b"SSH-2.0-execo_fault_server\r\n")
        event("silent")
        while sock.recv(65536):
            pass
        return
    transport = paramiko.Transport(sock)
    transport.add_server_key(host_key)
    server = FaultyServer()
    try:
        transport.start_server(server=server)
        channel = transport.accept(30)
        if channel is None or not server.request.wait(30):
            return
        serve_session(mode, channel, server.kind)
    except (OSError, EOFError, paramiko.SSHException):
        pass
    finally:
        if mode not in ("trickle", "reset"):
            # the client ends the connection once it has read everything;
            # closing first would reset it under the client's feet
            transport.join(30)
            transport.close()


def main() -> int:
    mode, key_file = sys.argv[1:3]
    if mode not in MODES:
        sys.stderr.write("unknown mode %r; modes: %s\n" % (mode, ", ".join(MODES)))
        return 2
    host_key = paramiko.Ed25519Key(filename=key_file)
    if mode == "reset":
        # exiting at once with every socket at linger 0 makes the kernel
        # send RST on each connection, data in flight or not
        signal.signal(signal.SIGUSR1, lambda *_: os._exit(0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    with _print_lock:
        sys.stdout.write("port %d\n" % listener.getsockname()[1])
        sys.stdout.flush()
    while True:
        sock, _ = listener.accept()
        if mode == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        event("connection")
        threading.Thread(target=serve_connection, args=(mode, sock, host_key),
                         daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
