"""Access to the real OAR test bed built by ``setup_oar_testbed.sh``.

The set-up installs packages and starts daemons, so it runs at most once per
process; every OAR test shares its outcome. Wrap it in a pytest fixture that
turns :class:`OarTestbedUnavailable` into a skip and lets :class:`OarTestbedError`
fail the test (a broken test bed on a capable machine is a real failure).

Example::

    bed = ensure_oar_testbed()
    out = run_as_user("oarsub -l nodes=1,walltime=0:05:00 'sleep 60'", timeout=60)
    assert "OAR_JOB_ID=" in out.stdout
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional, Union

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "setup_oar_testbed.sh")
SETUP_TIMEOUT = 900.0  # a first run installs packages (apt-get update included)

# Every test process using the bed holds a shared lock on this file for its
# whole life; one that finds no other holder knows that every job of the test
# user left in OAR's database comes from a run that died (a killed pytest
# leaves its jobs running for their walltime, and they starve the next run).
SESSION_LOCK = "/run/execo-oar-testbed.lock"
_lock = threading.Lock()
_outcome: Optional[Union[Dict[str, Any], "OarTestbedError"]] = None
_session_lock_file = None


class OarTestbedError(RuntimeError):
    """The test bed could not be built on a machine that should support it."""


class OarTestbedUnavailable(OarTestbedError):
    """This machine cannot host the test bed (not Debian, not root): skip."""


def _parse_ready(fields: Dict[str, str]) -> Dict[str, Any]:
    clusters = {}
    for item in fields.get("clusters", "").split(";"):
        if item:
            name, _, members = item.partition(":")
            clusters[name] = members.split("+")
    user = fields["user"]
    return {
        "user": user,
        "nodes": fields["nodes"].split(","),
        "clusters": clusters,
        "job_key": fields.get("key", ""),
        "home": os.path.expanduser("~" + user),
    }


def _join_bed_sessions() -> bool:
    """Hold the shared session lock; True when no other live process holds it."""
    global _session_lock_file
    try:
        _session_lock_file = open(SESSION_LOCK, "a")
    except OSError:
        return False  # not root: the set-up says the bed is unavailable anyway
    try:
        fcntl.flock(_session_lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        alone = True
    except BlockingIOError:
        alone = False
    fcntl.flock(_session_lock_file, fcntl.LOCK_SH)
    return alone


def _delete_jobs_of_dead_runs(patience: float = 30.0) -> None:
    """oardel every unfinished job of the test user (only called when alone).

    An oardel that reaches a job while OAR launches it can be lost, so the
    jobs are listed and deleted again until none is left or ``patience`` ends.
    """
    user = os.environ.get("EXECO_OAR_USER", "g5kuser")
    if subprocess.run(["id", user], capture_output=True).returncode != 0:
        return  # a fresh machine: no bed, no jobs yet
    deadline = time.monotonic() + patience
    while True:
        stale = _unfinished_jobs(user)
        if not stale or time.monotonic() > deadline:
            return
        subprocess.run(["runuser", "-u", user, "--", "bash", "-lc", "oardel " + " ".join(stale)],
                       capture_output=True, timeout=60)
        time.sleep(2.0)  # OAR polls; no event tells when a deletion is done


def _unfinished_jobs(user: str) -> List[str]:
    listing = subprocess.run(["runuser", "-u", user, "--", "bash", "-lc",
                              "command -v oarstat >/dev/null && oarstat -J -u %s" % user],
                             capture_output=True, text=True, timeout=60)
    try:
        jobs = json.loads(listing.stdout) if listing.stdout.strip() else {}
    except ValueError:
        return []
    return [str(job_id) for job_id, job in jobs.items()
            if job.get("state") not in ("Terminated", "Error")]


def _run_setup() -> Union[Dict[str, Any], OarTestbedError]:
    if _join_bed_sessions():
        _delete_jobs_of_dead_runs()
    try:
        proc = subprocess.run(["bash", SCRIPT], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=SETUP_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        return OarTestbedError(f"{SCRIPT} did not finish within {SETUP_TIMEOUT:.0f}s: {exc.output!r}")
    except OSError as exc:
        return OarTestbedUnavailable(f"cannot run {SCRIPT}: {exc}")
    lines = proc.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    status, _, rest = last.partition(" ")
    if status == "OAR_TESTBED=ready":
        fields = dict(tok.split("=", 1) for tok in rest.split() if "=" in tok)
        return _parse_ready(fields)
    reason = rest[len("reason="):] if rest.startswith("reason=") else last
    if status == "OAR_TESTBED=unavailable":
        return OarTestbedUnavailable(reason)
    tail = "\n".join(lines[-40:])
    return OarTestbedError(f"OAR test bed set-up failed (exit {proc.returncode}): {reason}\n{tail}")


def ensure_oar_testbed() -> Dict[str, Any]:
    """Build (once per process) and describe the OAR test bed.

    Returns ``{'user', 'nodes', 'clusters', 'job_key', 'home'}``, e.g.
    ``clusters == {'griffon': ['griffon-1', ...], 'graphene': [...]}``;
    raises :class:`OarTestbedUnavailable` (skip) or :class:`OarTestbedError`.
    """
    global _outcome
    with _lock:
        if _outcome is None:
            _outcome = _run_setup()
            if not isinstance(_outcome, Exception):
                threading.Thread(target=_nudge_scheduler, name="oar-scheduler-nudge",
                                 daemon=True).start()
        outcome = _outcome
    if isinstance(outcome, Exception):
        raise outcome
    return dict(outcome)


# OAR's Almighty runs its scheduler on an event (a submission, a job's end)
# or, without one, every 60 s (hard-coded). A Grid5000 site has events all
# the time, so a reservation starts within seconds of its date; an idle test
# bed would start it up to a minute late. Every NUDGE_PERIOD seconds the
# test bed's OAR is sent the "Scheduling" tag with OAR's own admin command.
NUDGE_PERIOD = 5.0


def _nudge_scheduler() -> None:
    while True:
        try:
            subprocess.run(["oarnotify", "Scheduling"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        time.sleep(NUDGE_PERIOD)  # a period, not a wait for an event


def run_as_user(cmd: str, timeout: float) -> subprocess.CompletedProcess:
    """Run a shell command as the submitting user, from its home directory.

    OAR refuses root, and oarsub writes OAR.<id>.std{out,err} in the current
    directory, hence the user's home. A login shell gives the user's PATH.
    Example: ``run_as_user("oarstat -J -fj 12", timeout=30).stdout``
    """
    bed = ensure_oar_testbed()
    return subprocess.run(["runuser", "-u", bed["user"], "--", "bash", "-lc", cmd],
                          cwd=bed["home"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
