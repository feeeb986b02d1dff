"""Every name execo 2.8.2 exported is importable from the same module path,
with a compatible signature.

Real experiment scripts import from 2.x's submodules (``from execo.action
import Put``). This test walks the reference listing of 2.8.2
(``tests/data/execo-2.8.2-modules.txt``, carried by the repository)
and, for each name: imports it from its 2.x module; checks that every
parameter 2.x lists exists here by name, at the same position when it is
positional, with an equal default when that default is a literal (a
``*args, **kwargs`` signature does not pass); checks the listed methods
and properties of classes; checks that objects listed with a type have
that type's methods. The exceptions are data below, one reason each:
`NO_MEANING_HERE` for 2.x internals (never faked), `EXPECTED_MISSING` for
the extensions built by other issues, which may only shrink.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import os
import re
import sys
from typing import Any, Dict, List, NamedTuple, Optional

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(REPO, "tests", "data", "execo-2.8.2-modules.txt")

# 2.x internals that have no meaning here: (module, name) -> why
NO_MEANING_HERE = {
    ("execo.action", "ActionNotificationProcessLH"):
        "2.x's private lifecycle handler counting an action's ended processes; "
        "execo.action counts them itself",
    ("execo.action", "ParallelSubActionLH"):
        "2.x's private handler of ParallelActions' members; groups watch their members here",
    ("execo.action", "SequentialSubActionLH"):
        "2.x's private handler of SequentialActions' members; groups watch their members here",
    ("execo.action", "TaktukProcess"):
        "taktuk hosts are fed by one taktuk process per action here; a per-host process "
        "is not something a script can start on its own",
    ("execo.process", "TaktukProcess"): "see execo.action.TaktukProcess",
    ("execo.action", "get_caller_context"):
        "2.x's frame walk for {{expr}}; execo.substitution evaluates in the caller's frame",
    ("execo.substitutions", "get_caller_context"): "see execo.action.get_caller_context",
    ("execo.action", "intr_event_wait"):
        "a Python 2 workaround (waits that ignored Ctrl-C); Python 3 waits are interruptible",
    ("execo.action", "non_retrying_intr_cond_wait"): "see execo.action.intr_event_wait",
    ("execo.process", "intr_event_wait"): "see execo.action.intr_event_wait",
    ("execo.process", "non_retrying_intr_cond_wait"): "see execo.action.intr_event_wait",
    ("execo.utils", "intr_event_wait"): "see execo.action.intr_event_wait",
    ("execo.utils", "non_retrying_intr_cond_wait"): "see execo.action.intr_event_wait",
    ("execo.conductor", "the_conductor"):
        "the conductor starts on first use here: execo.conductor.get_conductor()",
    ("execo.conductor", "debug_dump_processes"):
        "a debugging hook of 2.x's conductor thread; dump() of a process says the same",
    ("execo.conductor", "debug_dump_threads"):
        "a debugging hook of 2.x's conductor; faulthandler.dump_traceback() does it",
    ("execo.conductor", "debug_toggle_thread"): "see execo.conductor.debug_dump_threads",
    ("execo.conductor", "remove_from_heapq"):
        "2.x's timer heap helper; the conductor's timers are cancelled through their handle",
    ("execo.config", "checktty"):
        "2.x's decorator for its colour default; configuration['color_mode'] is decided "
        "when the configuration is built",
    ("execo.log", "MyFormatter"):
        "2.x's formatter class; execo's log format is set through logging's own API "
        "on execo.log.logger_handler",
    ("execo.process", "handle_process_output"):
        "2.x's private dispatch of output to handlers; execo.output.StreamDispatcher does it",
    ("execo.process", "port_forwarder_stderr_handler"):
        "2.x's private handler of PortForwarder; execo.port_forwarder checks the forward "
        "by the remote command's first line",
    ("execo_g5k.kadeploy", "ActionNotificationProcessLH"):
        "see execo.action.ActionNotificationProcessLH (2.x's kadeploy merely imported it)",
    ("execo_g5k.kadeploy", "handle_process_output"):
        "see execo.process.handle_process_output (2.x's kadeploy merely imported it)",
    ("execo.process", "splitlines"):
        "2.x's private line splitter; execo.output.LineSplitter keeps bytes until a line ends",
}

# signatures that differ from 2.x on purpose: the problem as reported -> why
SIGNATURE_DIFFERENCES = {
    "execo.process.ProcessBase.kill: no parameter 'auto_sigterm_timeout'":
        "2.x's abstract ProcessBase.kill spelled it auto_sigterm_timeout, its only "
        "implementation Process.kill auto_force_kill_timeout: ours is Process's on both",
}

# names of the extensions that other issues are building: may only shrink
EXPECTED_MISSING: Dict[str, str] = {}

# modules of the 2.x list that another branch creates, with the branch
PENDING_MODULES: Dict[str, str] = {}


class Entry(NamedTuple):
    module: str
    name: str
    kind: str                 # "class", "def" or "object"
    params: Optional[str]     # the signature's inside, for classes and functions
    typename: Optional[str]   # for objects: "[dict]", "[Logger]"...
    value: Optional[str]      # for constants: "3"
    methods: List[str]        # the class's indented lines


def reference_entries() -> List[Entry]:
    entries: List[Entry] = []
    module = None
    with open(REFERENCE) as listing:
        for line in listing:
            line = line.rstrip("\n")
            if line.startswith("## "):
                module = line.split()[1]
            elif line.startswith("#") or not line.strip() or module is None:
                continue
            elif line.startswith("    "):
                entries[-1].methods.append(line.strip())
            else:
                entries.append(_parse_entry(module, line))
    return entries


def _parse_entry(module: str, line: str) -> Entry:
    line = re.sub(r"\s+\[(from [\w.]+|re-exported)\]$", "", line)
    match = re.match(r"^(class|def) (\w+)\((.*)\)$", line)
    if match:
        return Entry(module, match.group(2), match.group(1), match.group(3), None, None, [])
    match = re.match(r"^(\w+)  \[(\w+)\]$", line)
    if match:
        return Entry(module, match.group(1), "object", None, match.group(2), None, [])
    match = re.match(r"^(\w+) = (.*)$", line)
    assert match, "unparsed reference line: %r" % line
    return Entry(module, match.group(1), "object", None, None, match.group(2), [])


_NON_LITERAL = object()


def parse_params(params: str) -> List[inspect.Parameter]:
    """The parameters of a reference signature (defaults that are no
    literal, such as ``<Signals.SIGTERM: 15>``, become `_NON_LITERAL`)."""
    source = re.sub(r"<[^<>]*>", "__non_literal__", params)
    function = ast.parse("def f(%s): pass" % source).body[0]
    args = function.args
    result = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults):
        result.append(inspect.Parameter(arg.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=_literal(default)))
    if args.vararg:
        result.append(inspect.Parameter(args.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        result.append(inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=_literal(default)))
    if args.kwarg:
        result.append(inspect.Parameter(args.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return result


def _literal(node: Optional[ast.expr]) -> Any:
    if node is None:
        return inspect.Parameter.empty
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _NON_LITERAL


def signature_problems(ours: Any, reference: str, what: str) -> List[str]:
    """Why ``ours`` cannot be called as 2.x's ``reference`` signature allows."""
    if reference == "...":  # the listing could not read 2.x's signature either
        return []
    try:
        signature = inspect.signature(ours)
    except (TypeError, ValueError) as exc:
        return ["%s: no signature (%s)" % (what, exc)]
    our_params = [p for p in signature.parameters.values() if p.name != "self"]
    by_name = {p.name: p for p in our_params}
    our_positional = [p.name for p in our_params
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_varargs = any(p.kind == p.VAR_POSITIONAL for p in our_params)
    problems = []
    ref_params = [p for p in parse_params(reference) if p.name != "self"]
    # 2.x's (*args, **kwargs) passed everything on: named parameters here are as good
    ref_passes_on = any(p.kind == p.VAR_POSITIONAL for p in ref_params)
    for index, ref in enumerate(ref_params):
        if ref.kind in (ref.VAR_POSITIONAL, ref.VAR_KEYWORD):
            if ref.kind == ref.VAR_POSITIONAL and not (takes_varargs or our_positional):
                problems.append("%s: takes no *%s" % (what, ref.name))
            continue
        mine = by_name.get(ref.name)
        if mine is None or mine.kind in (mine.VAR_POSITIONAL, mine.VAR_KEYWORD):
            problems.append("%s: no parameter %r" % (what, ref.name))
            continue
        if ref.kind == ref.POSITIONAL_OR_KEYWORD and (
                index >= len(our_positional) or our_positional[index] != ref.name):
            problems.append("%s: %r is not positional parameter %d" % (what, ref.name, index))
        if ref.default is inspect.Parameter.empty or ref.default is _NON_LITERAL:
            continue
        if mine.default is inspect.Parameter.empty:
            problems.append("%s: %r has no default (2.x: %r)" % (what, ref.name, ref.default))
        elif ref.default == [] and mine.default == sys.argv[1:]:
            # Engine.start(engineargs=sys.argv[1:]): evaluated at import, here as in
            # 2.x, whose listing was made by an interpreter given no arguments
            continue
        elif _read_from_configuration(mine.default):
            # 2.x evaluated this default at import, from its configuration or the
            # home directory of the machine that made the listing; read when used here
            continue
        elif mine.default != ref.default:
            problems.append("%s: %r defaults to %r (2.x: %r)" % (
                what, ref.name, mine.default, ref.default))
    for mine in [] if ref_passes_on else our_params:
        if (mine.default is inspect.Parameter.empty
                and mine.kind in (mine.POSITIONAL_OR_KEYWORD, mine.KEYWORD_ONLY)
                and mine.name not in {p.name for p in ref_params}):
            problems.append("%s: requires %r, which 2.x did not" % (what, mine.name))
    return problems


def _read_from_configuration(default: Any) -> bool:
    config = sys.modules.get("execo_g5k.config")
    return config is not None and isinstance(default, config.FromConfiguration)


def method_problems(owner: Any, lines: List[str], what: str) -> List[str]:
    problems = []
    for line in lines:
        match = re.match(r"^\.(\w+)(?:\((.*)\)|  \[property\])$", line)
        assert match, "unparsed method line %r" % line
        name, params = match.groups()
        if not hasattr(owner, name):
            problems.append("%s.%s: missing" % (what, name))
        elif params is None:
            if not isinstance(inspect.getattr_static(owner, name, None), property) \
                    and isinstance(owner, type):
                problems.append("%s.%s: not a property" % (what, name))
        else:
            problems.extend(signature_problems(getattr(owner, name), params,
                                               "%s.%s" % (what, name)))
    return problems


def _classes_by_name(entries: List[Entry]) -> Dict[str, Entry]:
    return {e.name: e for e in entries if e.kind == "class" and e.methods}


_BUILTIN_TYPES = {"dict": dict, "int": int, "StreamHandler": logging.StreamHandler}


def entry_problems(entry: Entry, classes: Dict[str, Entry]) -> List[str]:
    what = "%s.%s" % (entry.module, entry.name)
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        return ["%s: module does not import (%s)" % (what, exc)]
    try:
        ours = getattr(module, entry.name)
    except AttributeError:
        return ["%s: missing" % what]
    except ImportError as exc:
        return ["%s: its home does not import (%s)" % (what, exc)]
    problems = []
    if entry.kind in ("class", "def"):
        if entry.kind == "class" and not isinstance(ours, type):
            problems.append("%s: not a class" % what)
        problems.extend(signature_problems(ours, entry.params, what))
        problems.extend(method_problems(ours, entry.methods, what))
    elif entry.value is not None:
        if ours != ast.literal_eval(entry.value):
            problems.append("%s: %r (2.x: %s)" % (what, ours, entry.value))
    elif entry.typename in _BUILTIN_TYPES:
        if not isinstance(ours, _BUILTIN_TYPES[entry.typename]):
            problems.append("%s: not a %s" % (what, entry.typename))
    elif entry.typename in classes:
        problems.extend(method_problems(ours, classes[entry.typename].methods, what))
    else:
        problems.append("%s: type %s unknown to this test" % (what, entry.typename))
    return problems


def _is_core(entry: Entry) -> bool:
    return entry.module == "execo" or entry.module.startswith("execo.")


def _expected_missing(entry: Entry) -> bool:
    """``"module.*"`` covers a module and its submodules."""
    parts = entry.module.split(".")
    return ("%s.%s" % (entry.module, entry.name) in EXPECTED_MISSING
            or any("%s.*" % ".".join(parts[:n]) in EXPECTED_MISSING
                   for n in range(1, len(parts) + 1)))


@pytest.fixture(scope="module")
def entries() -> List[Entry]:
    assert os.path.exists(REFERENCE), "the 2.8.2 reference listing is missing: %s" % REFERENCE
    return reference_entries()


def test_reference_is_read_whole(entries):
    modules = {e.module for e in entries}
    assert {"execo.action", "execo.process", "execo.time_utils", "execo_g5k.oar",
            "execo_engine.sweep"} <= modules
    assert len(entries) > 400


def test_every_2x_execo_name_imports_from_its_2x_module(entries):
    classes = _classes_by_name(entries)
    problems = []
    for entry in filter(_is_core, entries):
        if (entry.module, entry.name) in NO_MEANING_HERE or entry.module in PENDING_MODULES:
            continue
        problems.extend(entry_problems(entry, classes))
    unexplained = [p for p in problems if p not in SIGNATURE_DIFFERENCES]
    assert unexplained == []
    assert sorted(set(SIGNATURE_DIFFERENCES) - set(problems)) == [], \
        "these differences are gone: remove them from SIGNATURE_DIFFERENCES"


def test_no_meaning_here_list_is_reviewed(entries):
    listed = {(e.module, e.name) for e in entries}
    assert set(NO_MEANING_HERE) <= listed
    assert all(len(reason) > 20 for reason in NO_MEANING_HERE.values())
    for module, name in NO_MEANING_HERE:
        assert not hasattr(importlib.import_module(module), name), \
            "%s.%s exists now: remove it from NO_MEANING_HERE" % (module, name)


def test_pending_modules_are_still_pending():
    """Once the branch creating a module is merged, its entry goes and the
    module's names are checked like the others."""
    for module in PENDING_MODULES:
        path = os.path.join(REPO, *module.split(".")) + ".py"
        assert not os.path.exists(path), "%s exists now: remove it from PENDING_MODULES" % module


def test_extension_names_import_except_the_expected_missing(entries):
    classes = _classes_by_name(entries)
    problems = []
    for entry in entries:
        if _is_core(entry) or _expected_missing(entry) \
                or (entry.module, entry.name) in NO_MEANING_HERE:
            continue
        problems.extend(entry_problems(entry, classes))
    assert problems == []


def test_expected_missing_list_only_shrinks(entries):
    """An entry whose names all import now must leave EXPECTED_MISSING."""
    classes = _classes_by_name(entries)
    stale = []
    for key in EXPECTED_MISSING:
        module, _, name = key.rpartition(".")
        covered = [e for e in entries if not _is_core(e) and (
            (name == "*" and (e.module + ".").startswith(module + "."))
            or (e.module == module and e.name == name))]
        assert covered, "%s names nothing of the reference" % key
        if not any(entry_problems(e, classes) for e in covered):
            stale.append(key)
    assert stale == [], "these import now: remove them from EXPECTED_MISSING"


def test_the_legacy_table_is_one_table_without_dead_entries():
    from execo.compat import HOMES, LEGACY_MODULES
    served = {name for names in LEGACY_MODULES.values() for name in names}
    assert served == set(HOMES)
    for name, home in HOMES.items():
        assert home in ("execo",) or home.startswith("execo."), home
        assert hasattr(importlib.import_module(home), name), "%s is not in %s" % (name, home)


def test_no_execo_module_imports_the_extensions_or_a_cycle_through_the_table():
    """The table's modules are imported when a name is asked, never when
    execo is: ``import execo`` brings in no extension and no 2.x path."""
    import subprocess
    import sys
    code = ("import sys, execo\n"
            "bad = [m for m in sys.modules if m.startswith(('execo_g5k', 'execo_engine'))"
            " or m in ('execo.ssh_utils', 'execo.substitutions')]\n"
            "print(bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
    assert done.stdout.strip() == "[]", done.stderr
