"""scp's words for a connection that ended under it become a reason.

A partitioned host makes scp end with no line of ssh's naming a cause
(at LogLevel=ERROR ssh is silent about keepalives): exit 255 "scp:
Connection closed" when fetching, exit 1 "lost connection" when sending
(both seen on the emulated bed, tests/integration/test_netbed.py). The
classifier is a function of the stderr text: no process needed here.
"""

from execo.host import Host
from execo.ssh import _scp_lost_connection, ssh_failure_reason


def test_scps_connection_closed_alone_is_a_connection_lost():
    reason = ssh_failure_reason(Host("h"), "scp: Connection closed\r\n", tool="scp")
    assert reason == "scp to 'h' failed (exit 255, connection lost): scp: Connection closed"


def test_scps_lost_connection_on_exit_1_is_a_connection_lost():
    assert _scp_lost_connection("lost connection\n")
    reason = ssh_failure_reason(Host("h"), "lost connection\n", tool="scp", exit_code=1)
    assert reason == "scp to 'h' failed (exit 1, connection lost): lost connection"


def test_a_cause_named_by_ssh_wins_over_scps_vague_last_line():
    stderr = "ssh: connect to host h port 22: Connection refused\nscp: Connection closed\n"
    reason = ssh_failure_reason(Host("h"), stderr, tool="scp")
    assert reason.startswith("scp to 'h' failed (exit 255, nothing listens on the ssh port)")


def test_a_failed_copy_is_no_lost_connection():
    assert not _scp_lost_connection("scp: /nowhere/x: No such file or directory\n")
    assert not _scp_lost_connection("lost connection\nscp: /x: Permission denied\n")
    assert not _scp_lost_connection("")


def test_ssh_never_reads_scps_words():
    # "Connection closed" from a remote command's own stderr is not ssh's
    reason = ssh_failure_reason(Host("h"), "Connection closed\n", tool="ssh")
    assert reason == "ssh to 'h' failed (exit 255): Connection closed"
