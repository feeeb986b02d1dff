"""Constructors show their real keywords, and a misspelled one is named."""

import inspect
import pydoc

import pytest

from execo import (ChainPut, Get, Local, ParallelActions, Process, Put, Remote,
                   SequentialActions, SshProcess, TaktukRemote)
from execo.process_base import ProcessBase

PROCESS_KEYWORDS = {name for name, parameter
                    in inspect.signature(ProcessBase.__init__).parameters.items()
                    if name not in ("self", "cmd") and parameter.kind != parameter.VAR_KEYWORD}


@pytest.mark.parametrize("cls", [Local, Remote, Put, Get, TaktukRemote, ChainPut])
def test_an_action_signature_lists_its_processes_keywords(cls):
    parameters = inspect.signature(cls).parameters
    assert PROCESS_KEYWORDS | {"shell", "cwd", "env", "lifecycle_handlers"} <= set(parameters)
    assert not any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    assert "cmd" not in parameters or list(parameters)[0] == "cmd"


def test_the_positional_parameters_stay_in_their_2x_order():
    assert list(inspect.signature(Remote).parameters)[:5] == [
        "cmd", "hosts", "connection_params", "process_args", "connexion_params"]
    assert list(inspect.signature(Put).parameters)[:3] == [
        "hosts", "local_files", "remote_location"]
    assert list(inspect.signature(SshProcess).parameters)[:4] == [
        "cmd", "host", "connection_params", "connexion_params"]


def test_groups_take_only_action_keywords():
    assert list(inspect.signature(ParallelActions).parameters) == [
        "actions", "lifecycle_handlers", "name", "default_expect_timeout", "progress"]
    assert inspect.signature(SequentialActions) == inspect.signature(ParallelActions)


def test_process_signatures_show_what_kwargs_hid():
    parameters = inspect.signature(SshProcess).parameters
    assert {"timeout", "ignore_exit_code", "stdout_handlers", "shell"} <= set(parameters)
    assert inspect.signature(Process).parameters["timeout"].default is None


def test_help_shows_them():
    text = pydoc.render_doc(Remote, renderer=pydoc.plaintext)
    assert "ignore_exit_code: 'bool' = False" in text


@pytest.mark.parametrize("make, message", [
    (lambda: Remote("true", ["h1"], ignore_exit_cod=True),
     "Remote() got an unexpected keyword argument 'ignore_exit_cod'; did you mean "
     "'ignore_exit_code'?"),
    (lambda: Local("true", tiemout=3),
     "Local() got an unexpected keyword argument 'tiemout'; did you mean 'timeout'?"),
    (lambda: Put(["h1"], ["f"], "/tmp", process_args={"nolog_exit": True}),
     "Put() got an unexpected key in process_args 'nolog_exit'; did you mean "
     "'nolog_exit_code'?"),
    (lambda: Process("true", tiemout=3),
     "Process() got an unexpected keyword argument 'tiemout'; did you mean 'timeout'?"),
    (lambda: SshProcess("true", "h1", ignore_exit_cod=True),
     "SshProcess() got an unexpected keyword argument 'ignore_exit_cod'; did you mean "
     "'ignore_exit_code'?"),
    (lambda: TaktukRemote("true", ["h1"], lifecycle_handler=[]),
     "TaktukRemote() got an unexpected keyword argument 'lifecycle_handler'; did you mean "
     "'lifecycle_handlers'?"),
])
def test_a_misspelled_keyword_names_the_closest_one(make, message):
    with pytest.raises(TypeError) as caught:
        make()
    assert str(caught.value) == message


def test_every_documented_keyword_is_accepted():
    kwargs = {name: parameter.default
              for name, parameter in inspect.signature(Remote).parameters.items()
              if parameter.kind == parameter.KEYWORD_ONLY}
    kwargs["name"] = "all keywords"
    assert Remote("true", ["h1"], **kwargs).name == "all keywords"


def test_a_subclass_that_builds_its_command_does_not_ask_for_one():
    from execo import PortForwarder
    parameters = inspect.signature(PortForwarder).parameters
    assert "cmd" not in parameters and "timeout" in parameters
    assert all(p.default is not p.empty for p in parameters.values()
               if p.kind == p.KEYWORD_ONLY)
