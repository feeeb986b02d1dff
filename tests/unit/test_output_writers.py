"""Output written to files, fds and file objects never blocks the loop
(execo.writers), and a big captured output costs about twice its size."""

import json
import os
import subprocess
import sys
import time

from execo import Process
from execo.writers import HIGH_WATER

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_fifo_nobody_reads_does_not_hold_up_an_unrelated_timeout(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    writer = Process("echo to nobody", stdout_handlers=[fifo]).start()
    try:
        unrelated = Process("sleep 60", timeout=1).start()
        unrelated.wait(10)  # a blocked loop never ends it (it used to hang for good)
        assert unrelated.ended and unrelated.timeouted
        assert not writer.ended  # its end waits for its write, which waits for a reader
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer through
        try:
            writer.wait(10)
            assert writer.ended and writer.ok
        finally:
            os.close(reader)


def _wait_for(predicate, limit=30.0):
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)


def test_a_slow_destination_pauses_its_process_only_and_loses_nothing():
    read_end, write_end = os.pipe()
    size = 8 * HIGH_WATER
    producer = Process(["head", "-c", str(size), "/dev/zero"], stdout_handlers=[write_end],
                       default_stdout_handler=False).start()
    received = 0
    try:
        # nobody reads yet: the writes pile up to the high water mark, then
        # the producer is no longer read, and blocks
        _wait_for(lambda: producer._dispatchers[1].writes is not None
                  and producer._dispatchers[1].writes.paused)
        writes = producer._dispatchers[1].writes
        assert producer.running
        # meanwhile the loop serves everyone else
        assert Process("echo hi").run(timeout=30).stdout == "hi\n"
        peak = 0
        while received < size:
            peak = max(peak, writes.queued)
            chunk = os.read(read_end, 1 << 20)
            assert chunk
            received += len(chunk)
        producer.wait(60)
    finally:
        os.close(write_end)
        os.close(read_end)
    assert producer.ok and received == size
    # never more than the high water mark plus the chunk that crossed it
    assert peak <= HIGH_WATER + (1 << 20)


def test_a_path_handler_file_is_complete_when_run_returns(tmp_path):
    path = str(tmp_path / "out")
    processes = [Process("seq 1 20000", stdout_handlers=[path]) for _ in range(3)]
    for p in processes:
        p.start()
    for p in processes:
        p.wait()
    with open(path) as f:
        assert f.read().count("\n") == 3 * 20000


def test_a_silent_process_still_creates_its_path_handler_file(tmp_path):
    path = str(tmp_path / "empty")
    Process("true", stdout_handlers=[path]).run()
    assert os.path.exists(path) and os.path.getsize(path) == 0


def test_a_silent_process_path_file_exists_as_soon_as_wait_returns(tmp_path):
    # the writer thread used to say "drained" before it created the empty
    # file: a waiter woken at once (thread switches forced often) missed it
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        missing = []
        for round_ in range(5):
            paths = [str(tmp_path / ("%d-%d" % (round_, i))) for i in range(100)]
            processes = [Process("true", stdout_handlers=[path]).start() for path in paths]
            for process, path in zip(processes, paths):
                process.wait()
                if not os.path.exists(path):
                    missing.append(path)
    finally:
        sys.setswitchinterval(saved)
    assert missing == []


BIG_OUTPUT = r"""
import json, resource
from execo import Process
size = 512 << 20
p = Process("head -c %d /dev/zero | tr '\\0' a" % size, shell=True).run()
text = p.stdout
print(json.dumps({"length": len(text), "ascii": text[:3] + text[-3:],
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def test_reading_half_a_gigabyte_of_stdout_peaks_near_twice_its_size():
    result = subprocess.run([sys.executable, "-c", BIG_OUTPUT], cwd=REPO, capture_output=True,
                            timeout=300, env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    measured = json.loads(result.stdout.decode().splitlines()[-1])
    assert measured["length"] == 512 << 20 and measured["ascii"] == "aaaaaa"
    assert measured["peak_mib"] <= 2.2 * 512 + 100, measured
