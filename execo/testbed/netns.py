"""Network namespaces, veth links and their limits, through ``ip``, ``tc``
and ``nft``: the kernel side of an emulated test bed.

Every namespace of a bed is named ``execo-<pid>-<role>``, ``<pid>`` being
the owning process; the owner writes ``/run/execo-testbed/<pid>`` (its
start time and work directory) before creating anything. A bed whose owner
is gone (killed before it could clean up) is therefore recognisable by
name alone, and `clean_stale_beds` removes it: its processes, its
namespaces (and with them every link and qdisc: veths live only inside
the bed's namespaces, never in this machine's own), its files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from typing import Dict, Iterable, List, Optional, Sequence

from execo.testbed.procs import alive, signal_pids

__all__ = ["NetbedError", "NETNS_DIR", "OWNER_DIR", "run", "ip_batch", "tc_batch", "nft_apply",
           "netns_pids", "bed_namespaces", "kill_netns_processes", "delete_namespaces",
           "claim_owner", "release_owner", "clean_stale_beds", "process_start_time",
           "shaping_commands", "filter_table"]

NETNS_DIR = "/run/netns"
OWNER_DIR = "/run/execo-testbed"
_NAME = re.compile(r"^execo-(\d+)-")
_COMMAND_TIMEOUT = 60


class NetbedError(RuntimeError):
    """A command building or changing an emulated bed failed."""


def run(argv: Sequence[str], stdin: Optional[str] = None) -> str:
    """Run a set-up command; its stdout, or NetbedError with its stderr."""
    try:
        result = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                                timeout=_COMMAND_TIMEOUT,
                                stdin=None if stdin is not None else subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NetbedError("%s: %s" % (" ".join(argv), error)) from None
    if result.returncode != 0:
        raise NetbedError("%s failed (exit %d): %s" % (" ".join(argv[:4]), result.returncode,
                                                         result.stderr.strip()[-2000:]))
    return result.stdout


def ip_batch(commands: Iterable[str], netns: Optional[str] = None) -> None:
    """Many ``ip`` commands in one process (a bed of 50 hosts needs ~400)."""
    text = "".join(command + "\n" for command in commands)
    if text:
        run(["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"], text)


def tc_batch(commands: Iterable[str], netns: str) -> None:
    text = "".join(command + "\n" for command in commands)
    if text:
        run(["tc", "-n", netns, "-batch", "-"], text)


def nft_apply(script: str, netns: str) -> None:
    run(["nsenter", "--net=%s/%s" % (NETNS_DIR, netns), "nft", "-f", "-"], script)


def shaping_commands(device: str, rate: Optional[int]) -> List[str]:
    """tc commands limiting what ``device`` sends to ``rate`` bit/s (None:
    no limit). A token bucket shapes for real (no netem needed); its burst
    is 10 ms worth of traffic, at least 32 KiB so that a whole TSO segment
    passes."""
    commands = ["qdisc del dev %s root" % device]
    if rate is not None:
        burst = max(rate // 8 // 100, 32 * 1024)
        commands.append("qdisc add dev %s root tbf rate %dbit burst %d latency 100ms"
                        % (device, rate, burst))
    return commands


def filter_table(devices: Dict[str, "tuple[bool, float]"]) -> str:
    """An nft script replacing this namespace's ``execo`` table: for each
    device, (cut, loss percent) of what arrives on it. Dropping at the
    ingress of both ends of a link cuts or thins both directions, silently,
    as a pulled cable or a noisy line would."""
    chains = []
    for device, (cut, loss) in sorted(devices.items()):
        rules = []
        if cut:
            rules.append("drop")
        elif loss > 0:
            rules.append("numgen random mod 10000 < %d drop" % round(loss * 100))
        if rules:
            chains.append("  chain in_%s {\n    type filter hook ingress device \"%s\" "
                          "priority 0; policy accept;\n    %s\n  }\n"
                          % (re.sub(r"\W", "_", device), device, "\n    ".join(rules)))
    script = "table netdev execo\ndelete table netdev execo\n"
    if chains:
        script += "table netdev execo {\n%s}\n" % "".join(chains)
    return script


def netns_pids(name: str) -> List[int]:
    try:
        output = run(["ip", "netns", "pids", name])
    except NetbedError:
        return []
    return [int(pid) for pid in output.split() if pid.isdigit() and int(pid) != os.getpid()]


def bed_namespaces(owner: Optional[int] = None) -> List[str]:
    """Names of the namespaces of every bed (or of ``owner``'s only)."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    prefix = None if owner is None else "execo-%d-" % owner
    return sorted(name for name in names if _NAME.match(name)
                  and (prefix is None or name.startswith(prefix)))


def kill_netns_processes(names: Iterable[str], rounds: int = 50) -> None:
    """Kill every process in these namespaces; stop them first, so that
    none forks a child the kill would miss."""
    names = list(names)
    for _ in range(rounds):
        pids = [pid for name in names for pid in netns_pids(name)]
        if not pids:
            return
        signal_pids(pids, signal.SIGSTOP)
        signal_pids(pids, signal.SIGKILL)
        signal_pids(pids, signal.SIGCONT)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.01)  # no event tells when a pid we do not parent is gone


def delete_namespaces(names: Iterable[str]) -> None:
    names = list(names)
    if names:
        try:
            ip_batch(("netns del %s" % name for name in names))
        except NetbedError:
            for name in names:  # one by one: a name already gone fails the batch
                try:
                    run(["ip", "netns", "del", name])
                except NetbedError:
                    pass


def process_start_time(pid: int) -> Optional[str]:
    """The start time of ``pid`` (clock ticks since boot): with the pid, it
    names a process uniquely, even once pids have wrapped around."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as stat_file:
            stat = stat_file.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()[19].decode()


def claim_owner(workdir: str) -> None:
    os.makedirs(OWNER_DIR, exist_ok=True)
    with open(os.path.join(OWNER_DIR, str(os.getpid())), "w") as owner_file:
        json.dump({"start": process_start_time(os.getpid()), "workdir": workdir}, owner_file)


def release_owner() -> None:
    try:
        os.unlink(os.path.join(OWNER_DIR, str(os.getpid())))
    except FileNotFoundError:
        pass


def _owner(pid: int) -> Optional[dict]:
    try:
        with open(os.path.join(OWNER_DIR, str(pid))) as owner_file:
            return json.load(owner_file)
    except (OSError, ValueError):
        return None


def clean_stale_beds() -> List[int]:
    """Remove every bed whose owner process is gone; their owners' pids."""
    owners = {int(_NAME.match(name).group(1)) for name in bed_namespaces()}
    try:
        owners |= {int(name) for name in os.listdir(OWNER_DIR) if name.isdigit()}
    except FileNotFoundError:
        pass
    stale = []
    for pid in sorted(owners):
        record = _owner(pid)
        if pid == os.getpid() or (record is not None and alive(pid)
                                  and record.get("start") == process_start_time(pid)):
            continue  # a live bed, maybe another user's: not ours to touch
        names = bed_namespaces(pid)
        kill_netns_processes(names)
        delete_namespaces(names)
        workdir = (record or {}).get("workdir")
        if workdir and os.path.basename(workdir).startswith("execo-netbed-"):
            shutil.rmtree(workdir, ignore_errors=True)
        try:
            os.unlink(os.path.join(OWNER_DIR, str(pid)))
        except FileNotFoundError:
            pass
        stale.append(pid)
    return stale
