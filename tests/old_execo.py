"""execo 2.8.2 in a virtualenv of its own, for tests that compare with it.

What 2.x leaves on disk or hands to users as data (sweep state, slugify
names, slot lists) must match ours, so such tests run the same input
through 2.8.2 in a separate interpreter and compare. The virtualenv is
created once (from PyPI) and kept under ``~/.cache``; its children never
see this tree on their path, so ``import execo`` there is really 2.8.2.
"""

import json
import os
import subprocess
import sys
import venv

__all__ = ["OLD_EXECO_VERSION", "old_execo_python", "run_old_execo"]

OLD_EXECO_VERSION = "2.8.2"
OLD_VENV = os.environ.get("EXECO_TEST_OLD_VENV",
                          os.path.join(os.path.expanduser("~"), ".cache", "execo-tests",
                                       "execo-%s" % OLD_EXECO_VERSION))


def old_execo_python() -> str:
    """The interpreter of the execo 2.8.2 virtualenv, created on first use."""
    python = os.path.join(OLD_VENV, "bin", "python")
    if not os.path.exists(python):
        venv.create(OLD_VENV, with_pip=True)
    check = subprocess.run([python, "-c", "import execo; print(execo.__version__)"],
                           capture_output=True, text=True, cwd="/", env=_clean_env())
    if check.stdout.strip() != OLD_EXECO_VERSION:
        subprocess.run([python, "-m", "pip", "install", "-q", "execo==%s" % OLD_EXECO_VERSION],
                       check=True, env=_clean_env())
    return python


def _clean_env(extra=None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra or {})
    return env


def run_old_execo(code: str, stdin: str = "", env=None, cwd: str = "/", timeout: float = 300):
    """Run ``code`` under execo 2.8.2; return its stdout parsed as JSON (its last line).

    ``code`` prints one JSON document on its last line: that is the result.
    A failure raises with 2.8.2's stderr, so a test shows what went wrong there.
    """
    result = subprocess.run([old_execo_python(), "-c", code], input=stdin, capture_output=True,
                            text=True, env=_clean_env(env), cwd=cwd, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError("execo 2.8.2 failed (exit %d):\n%s" % (result.returncode,
                                                                   result.stderr[-3000:]))
    return json.loads(result.stdout.strip().splitlines()[-1])
