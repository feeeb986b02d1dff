"""Hosts, connection params and the ssh/scp argv builders (no network)."""

import os

import pytest

from execo import config
from execo.connection import (ConnectionParams, ConnexionParams, connection_target,
                              make_connection_params, pick_connection_params,
                              resolve_connection_params)
from execo.host import Host, get_hosts_list, get_hosts_set, get_unique_hosts_list
from execo.ssh import SshProcess, get_process, remote_command, remote_path, scp_command, \
    ssh_command
from execo.process import Process

BARE = {'ssh_options': (), 'scp_options': ()}


@pytest.fixture
def restore_defaults():
    saved = dict(config.default_connection_params)
    yield config.default_connection_params
    config.default_connection_params.clear()
    config.default_connection_params.update(saved)


# ---- Host -----------------------------------------------------------------

def test_hosts_with_same_fields_are_equal_and_hash_equal():
    a = Host("node-1", user="root", keyfile="/k", port=22)
    b = Host("node-1", user="root", keyfile="/k", port=22)
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1


@pytest.mark.parametrize("other", [Host("node-2"), Host("node-1", user="x"),
                                   Host("node-1", keyfile="/k"), Host("node-1", port=2)])
def test_hosts_differing_in_any_field_are_different(other):
    assert Host("node-1") != other


def test_host_is_not_equal_to_its_address_string():
    assert Host("node-1") != "node-1"


def test_false_means_unset_as_in_execo_2():
    assert Host("n", user=False, keyfile=False, port=False) == Host("n")


def test_copying_a_host_keeps_fields_and_overrides_given_ones():
    original = Host("n", user="u", port=2)
    copy = Host(original, port=3)
    assert (copy.address, copy.user, copy.port) == ("n", "u", 3)
    assert original.port == 2


@pytest.fixture
def no_color():
    saved = config.configuration['color_mode']
    config.configuration['color_mode'] = False
    yield
    config.configuration['color_mode'] = saved


def test_host_repr_shows_only_set_fields(no_color):
    assert repr(Host("n", port=2222)) == "Host('n', port=2222)"
    assert repr(Host("n")) == "Host('n')"


def test_host_rejects_empty_address():
    with pytest.raises(TypeError):
        Host("")


def test_hosts_list_keeps_order_and_accepts_mixed_inputs():
    hosts = get_hosts_list(["b", Host("a", user="u"), "c"])
    assert hosts == [Host("b"), Host("a", user="u"), Host("c")]


def test_hosts_list_copies_hosts():
    original = Host("a")
    copied = get_hosts_list([original])[0]
    copied.user = "changed"
    assert original.user is None


def test_a_single_string_is_one_host_not_letters():
    assert get_hosts_list("node-1") == [Host("node-1")]


def test_hosts_set_and_unique_list_drop_duplicates():
    assert get_hosts_set(["a", Host("a"), "b"]) == {Host("a"), Host("b")}
    assert get_unique_hosts_list(["b", "a", "b"]) == [Host("b"), Host("a")]


# ---- connection params ------------------------------------------------------

def test_make_connection_params_merges_defaults_then_caller_defaults_then_params():
    merged = make_connection_params({'user': 'p'}, {'user': 'd', 'port': 7})
    assert merged['user'] == 'p' and merged['port'] == 7
    assert merged['ssh'] == config.default_connection_params['ssh']


def test_make_connection_params_returns_a_fresh_dict():
    merged = make_connection_params()
    merged['user'] = 'mutated'
    assert config.default_connection_params['user'] != 'mutated'


def test_make_connection_params_reads_defaults_at_call_time(restore_defaults):
    restore_defaults['user'] = 'late'
    assert make_connection_params()['user'] == 'late'
    assert config.default_connexion_params is config.default_connection_params


@pytest.mark.parametrize("spelling", ["connection_params", "connexion_params"])
def test_both_spellings_of_connection_params_are_accepted(spelling):
    assert resolve_connection_params(pick_connection_params(**{spelling: {'user': 'u'}})
                                     )['user'] == 'u'


def test_both_spellings_given_equal_is_fine_but_different_is_an_error():
    assert pick_connection_params({'user': 'u'}, {'user': 'u'})['user'] == 'u'
    with pytest.raises(ValueError, match="spelled twice"):
        pick_connection_params({'user': 'u'}, {'user': 'v'})


def test_connexion_params_class_is_connection_params_a_dict():
    params = ConnexionParams(user='u')
    assert isinstance(params, dict) and ConnexionParams is ConnectionParams
    assert make_connection_params(params)['user'] == 'u'


def test_host_fields_override_connection_params():
    params = make_connection_params({'user': 'p', 'keyfile': '/p', 'port': 1})
    target = connection_target(Host("n", user="h", port=2), params)
    assert (target.user, target.keyfile, target.port) == ("h", "/p", 2)


def test_host_rewrite_func_rewrites_the_address_connected_to():
    params = make_connection_params({'host_rewrite_func': lambda a: a.replace("host", "node-")})
    assert connection_target("host1", params).address == "node-1"


def test_host_rewrite_func_returning_garbage_is_a_clear_error():
    params = make_connection_params({'host_rewrite_func': lambda a: None})
    with pytest.raises(ValueError, match="host_rewrite_func"):
        connection_target("n", params)


# ---- argv builders ------------------------------------------------------------

def test_ssh_command_puts_options_then_auth_then_address():
    argv = ssh_command(Host("n", user="u", keyfile="/k", port=2),
                       {'ssh': 'myssh', 'ssh_options': ('-o', 'A=b')})
    assert argv == ['myssh', '-o', 'A=b', '-l', 'u', '-i', '/k', '-p', '2', '--', 'n']


def test_ssh_command_uses_params_and_rewritten_address():
    argv = ssh_command("host1", dict(BARE, user="u", port=22,
                                     host_rewrite_func=lambda a: "10.0.0.1"))
    assert argv == ['ssh', '-l', 'u', '-p', '22', '--', '10.0.0.1']


def test_ssh_command_accepts_options_as_one_string():
    assert ssh_command("n", {'ssh_options': "-F '/a b/cfg' -q"}) == \
        ['ssh', '-F', '/a b/cfg', '-q', '--', 'n']


def test_pty_param_asks_ssh_for_a_remote_tty():
    assert ssh_command("n", dict(BARE, pty=True)) == ['ssh', '-tt', '--', 'n']


def test_default_ssh_options_never_prompt():
    argv = ssh_command("n")
    assert 'BatchMode=yes' in argv and any(a.startswith('ConnectTimeout=') for a in argv)


@pytest.mark.parametrize("option", ["ssh_options", "scp_options", "taktuk_connector_options"])
def test_default_options_forward_neither_agent_nor_x11(option):
    # a node of a shared testbed must not get the user's agent or display
    options = list(config.default_connection_params[option])
    for setting in ("ForwardAgent=no", "ForwardX11=no"):
        assert options[options.index(setting) - 1] == '-o'


def test_scp_command_has_no_user_and_uses_capital_p_for_the_port():
    assert scp_command(dict(BARE, user="u", keyfile="/k"), Host("n", port=2)) == \
        ['scp', '-i', '/k', '-P', '2', '--']


def test_remote_path_has_user_rewritten_address_and_brackets_ipv6():
    assert remote_path(Host("n", user="u"), "/f", BARE) == "u@n:/f"
    assert remote_path("n", "f", dict(BARE, host_rewrite_func=lambda a: "fe80::1")) == \
        "[fe80::1]:f"


def test_remote_command_is_wrapped_in_the_disconnect_watchdog_by_default():
    text = remote_command("sleep 5", BARE)
    assert text.endswith("\nsleep 5") and "kill -HUP 0" in text


def test_remote_command_is_left_alone_with_a_pty_or_when_disabled():
    assert remote_command("sleep 5", dict(BARE, pty=True)) == "sleep 5"
    assert remote_command(["ls", "-l"], dict(BARE, kill_remote_on_disconnect=False)) == "ls -l"


def test_ssh_process_builds_its_argv_when_started_not_when_created(restore_defaults):
    process = SshProcess("true", "n", connection_params={'ssh': 'ssh-late'})
    restore_defaults['ssh_options'] = ('-q',)
    argv = process._spawn_args()
    assert argv[:4] == ['ssh-late', '-q', '--', 'n'] and argv[-1].endswith("\ntrue")


def test_ssh_process_shows_its_host_and_keeps_the_remote_command(no_color):
    process = SshProcess("uptime", Host("n", user="u"))
    assert process.host == Host("n", user="u")
    assert process.cmd == process.remote_cmd == "uptime"
    assert repr(process) == "SshProcess('uptime', Host('n', user='u'))"


def test_ssh_process_pty_comes_from_connection_params():
    process = SshProcess("true", "n", connexion_params={'pty': True})
    assert "-tt" in process._spawn_args() and process.pty


def test_get_process_returns_a_process_or_an_ssh_process():
    assert type(get_process("true")) is Process
    remote = get_process("true", host="n", connexion_params={'user': 'u'})
    assert isinstance(remote, SshProcess) and remote.connection_params == {'user': 'u'}


@pytest.mark.parametrize("shell", [s for s in ("/bin/sh", "/bin/dash", "/bin/bash",
                                               "/bin/zsh", "/bin/ksh") if os.path.exists(s)])
def test_watchdog_prefix_is_valid_in_posix_login_shells_and_keeps_exit_codes(shell):
    # what sshd does with the remote string: <login shell> -c <string>
    process = Process([shell, "-c", remote_command("echo ran; exit 7", BARE)],
                      nolog_exit_code=True).run(timeout=30)
    assert process.stdout == "ran\n" and process.stderr == "" and process.exit_code == 7


def test_an_ssh_process_merges_the_defaults_once_per_start(monkeypatch):
    from execo import connection
    calls = []
    original = connection._merge

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(connection, "_merge", counting)
    process = SshProcess("true", Host("n1", port=2222), connexion_params={'user': 'u'})
    argv = process._spawn_args()
    assert len(calls) == 1
    assert argv[-2:] == ['n1', argv[-1]] and ['-l', 'u'] == argv[argv.index('-l'):][:2]
    resolved = connection.resolve_connection_params({'user': 'u'})
    assert isinstance(resolved, connection.ResolvedConnectionParams)
    assert connection.resolve_connection_params(resolved) is resolved
    with pytest.raises(TypeError):
        resolved['user'] = 'v'


# ---- one resolution per run (issue 26) --------------------------------------

@pytest.mark.parametrize("kind", ["Remote", "Put", "Get"])
def test_a_run_merges_the_defaults_once_and_rewrites_each_host_once(kind, monkeypatch):
    from execo import Get, Put, Remote, connection
    merges, rewrites = [], []
    original = connection._merge
    monkeypatch.setattr(connection, "_merge",
                        lambda *args: merges.append(args) or original(*args))

    def rewrite(address):
        rewrites.append(address)
        return address.upper()
    params = {'host_rewrite_func': rewrite}
    hosts = ["n1", "n2", "n3"]
    action = {"Remote": lambda: Remote("echo {{{host}}}", hosts, connection_params=params),
              "Put": lambda: Put(hosts, ["f"], "/tmp", connection_params=params),
              "Get": lambda: Get(hosts, ["/tmp/f"], ".", connection_params=params)}[kind]()
    del merges[:], rewrites[:]
    action._resolve_run()  # what start() does, without connecting
    argvs = [p._spawn_args() for p in action.processes]
    # the per-endpoint gate asks each process where it connects (issue 27)
    endpoints = [p.setup_endpoint() for p in action.processes]
    assert len(merges) == 1 and sorted(rewrites) == hosts
    assert [endpoint[0][0] for endpoint in endpoints] == [h.upper() for h in hosts]
    assert all(any(word.startswith(h.upper()) or word.endswith(h.upper()) for word in argv)
               for h, argv in zip(hosts, argvs)), argvs


def test_a_rewrite_set_after_the_action_is_built_reaches_host_substitution(restore_defaults):
    from execo import Remote
    action = Remote("echo {{{host}}}", ["n1", "n2"])
    restore_defaults['host_rewrite_func'] = lambda address: address + ".late"
    action._resolve_run()
    for process in action.processes:
        argv = process._spawn_args()
        assert argv[argv.index('--') + 1] == process.host.address + ".late"
        assert process.cmd == "echo %s.late" % (process.host.address,)


def test_a_process_assigned_from_another_action_keeps_its_own_host():
    from execo import Remote
    mine = Remote("true", ["n1"], connection_params={'host_rewrite_func': str.upper})
    other = Remote("true", ["n2"])
    mine.processes = mine.processes + other.processes  # as 2.x scripts merge results
    mine._resolve_run()
    argvs = [p._spawn_args() for p in mine.processes]
    assert [argv[argv.index('--') + 1] for argv in argvs] == ["N1", "n2"]
