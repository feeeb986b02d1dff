"""The set-up leaves the machine as it was, and the tests need nothing
outside the repository.

A clone made anywhere must pass its own tests: the data they read lives
under ``tests/``. The Makefile installs Python packages only into the
checkout's virtual environment: a pip run by the system interpreter
(``--break-system-packages`` on Debian, PEP 668) would upgrade packages
other tools of the machine depend on.
"""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _makefile_variables(text):
    """``NAME ?= value`` / ``NAME := value`` / ``NAME = value`` of a Makefile."""
    variables = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Z_]+)\s*(\?=|:=|=)\s*(.*)$", line)
        if match:
            variables[match.group(1)] = match.group(3)
    return variables


def _expand(text, variables, depth=0):
    assert depth < 10, text
    expanded = re.sub(r"\$\(([A-Z_]+)\)", lambda m: variables.get(m.group(1), m.group(0)), text)
    return expanded if expanded == text else _expand(expanded, variables, depth + 1)


def _pip_runners(command):
    """Who runs pip in a shell command: the interpreter of ``X -m pip``, or
    the path of a ``pip`` program (``python3-pip``, a Debian package, is
    neither)."""
    words = command.replace(";", " ").replace("&&", " ").split()
    runners = []
    for index, word in enumerate(words):
        if word == "pip" and index >= 2 and words[index - 1] == "-m":
            runners.append(words[index - 2])
        elif os.path.basename(word) in ("pip", "pip3") and words[index - 1:index] != ["-m"]:
            runners.append(word)
    return runners


def _pip_commands(text):
    """Every command of the Makefile that runs pip, variables expanded."""
    variables = _makefile_variables(text)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    commands = []
    for line in lines:
        expanded = _expand(line, variables)
        if _pip_runners(expanded) and not re.match(r"^[A-Z_]+\s*(\?=|:=|=)", line):
            commands.append(expanded)
    return commands, variables


def test_makefile_installs_python_packages_only_into_the_checkout_venv():
    with open(os.path.join(REPO, "Makefile")) as makefile:
        text = makefile.read()
    assert "--break-system-packages" not in text
    commands, variables = _pip_commands(text)
    assert commands, "the Makefile installs the packages execo needs"
    venv = variables.get("VENV")
    assert venv and not venv.startswith("/"), "the venv is inside the checkout: %r" % venv
    for command in commands:
        # each pip is run by the venv's interpreter (or its own pip), never python3's
        for runner in _pip_runners(command):
            assert runner.startswith(venv + "/bin/"), (runner, command)
        assert "--user" not in command and "sudo" not in command, command


def test_no_test_reads_files_outside_the_repository():
    offenders = []
    for directory, subdirs, files in os.walk(os.path.join(REPO, "tests")):
        subdirs[:] = [d for d in subdirs if d != "__pycache__"]
        for name in files:
            if not name.endswith((".py", ".sh", ".cfg", ".ini")):
                continue
            path = os.path.join(directory, name)
            with open(path, errors="replace") as source:
                text = source.read()
            if re.search(r"\.\./shared|[\"']shared[\"'],\s*[\"']reference", text):
                offenders.append(os.path.relpath(path, REPO))
    assert offenders == []


def test_the_2_8_2_listing_the_compatibility_tests_read_is_in_the_repository():
    listing = os.path.join(REPO, "tests", "data", "execo-2.8.2-modules.txt")
    with open(listing) as reference:
        text = reference.read()
    assert "execo 2.8.2" in text.splitlines()[0]
    assert re.search(r"^\s*Remote\b", text, re.M) or "Remote(" in text
