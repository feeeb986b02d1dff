"""One exception base for execo and one for execo_g5k (issue 13)."""

import pytest

from execo import ExecoError, Host, Local, Process, get_seconds
from execo.exception import ActionsFailed, ExecoValueError, ProcessesFailed
from execo.substitution import SubstitutionError


def test_errors_raised_by_execo_are_execo_errors_and_keep_their_builtin():
    with pytest.raises(ExecoError) as caught:
        get_seconds("soon")
    assert isinstance(caught.value, ValueError)
    with pytest.raises(ExecoError) as caught:
        Host("")
    assert isinstance(caught.value, TypeError)
    with pytest.raises(SubstitutionError) as caught:
        Local("echo {{undefined_name_here}}").processes  # Local: no substitution
        from execo import Remote
        Remote("echo {{undefined_name_here}}", ["a"])
    assert isinstance(caught.value, ExecoValueError)
    assert caught.value.expression == "undefined_name_here"


def test_failed_collections_keep_the_2x_constructors_and_data():
    process = Process("false").run()
    failure = ProcessesFailed([process])
    assert failure.processes == [process] and isinstance(failure, ExecoError)
    assert "1 process(es) failed" in str(failure)
    action = Local("false", nolog_exit_code=True).run()
    assert ActionsFailed([action]).actions == [action]
    from execo.action import ActionsFailed as FromAction
    assert FromAction is ActionsFailed


def test_g5k_errors_sit_under_their_own_base():
    from execo_g5k.api import APIException
    from execo_g5k.exception import G5kError
    from execo_g5k.oar import OarOutputError
    assert issubclass(APIException, G5kError) and issubclass(G5kError, ExecoError)
    assert issubclass(OarOutputError, G5kError) and issubclass(OarOutputError, ValueError)


def _builtin_raises(package):
    """``raise SomeBuiltinError(...)`` statements in a package's source."""
    import ast
    import builtins
    import os
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), package)
    found = []
    for name in sorted(os.listdir(root)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(root, name)) as source:
            tree = ast.parse(source.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and isinstance(node.exc.func, ast.Name) \
                    and isinstance(getattr(builtins, node.exc.func.id, None), type):
                found.append("%s:%d %s" % (name, node.lineno, node.exc.func.id))
    return found


def test_execo_engine_raises_only_execo_errors():
    assert _builtin_raises("execo_engine") == []
    from execo_engine import SweepStateError
    assert issubclass(SweepStateError, ExecoError)


def test_execo_g5k_raises_only_its_errors_but_import_and_attribute_errors():
    """ImportError (an optional dependency missing) and AttributeError (a
    module's __getattr__) are the protocol Python expects: kept builtin."""
    assert [r for r in _builtin_raises("execo_g5k")
            if not r.endswith(("ImportError", "AttributeError"))] == []
