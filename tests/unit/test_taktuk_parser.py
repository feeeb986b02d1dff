"""The taktuk record format: hostile payloads, any chunking, real Perl and sh.

No network here: the templates are evaluated by the real ``perl`` (as
taktuk evaluates them), encoded commands are decoded by the real
``/bin/sh``.
"""

import os
import shutil
import subprocess

import pytest

from execo.taktuk.protocol import (MARKER, TEMPLATES, Record, RecordParser, encode_command,
                                   escape_argument, exit_code_from_status)

pytestmark = pytest.mark.timeout(60)


def record(kind, header, data=b""):
    """Bytes of one record as our templates print it."""
    if kind in "OEKCTX":
        return MARKER + ("%s %s %d\n" % (kind, header, len(data))).encode() + data
    return MARKER + ("%s %s\n" % (kind, header)).encode()


def parse_in_chunks(stream, size):
    parser = RecordParser()
    records = []
    for start in range(0, len(stream), size):
        records += parser.feed(stream[start:start + size])
    return records + parser.flush()


HOSTILE = [
    b"",
    b"plain line\n",
    MARKER + b"O 1 5\nfake!",            # a whole fake record inside the data
    MARKER + b"S 2 0\n",                 # a fake status
    b"\x00\x01\xff\xfe binary \x1e\x1f\x1e",
    b"no newline at all",
    b"\n\n\n",
    b"\xe2\x82",                        # a UTF-8 character cut in two
    bytes(range(256)) * 4,
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_payload_with_markers_binary_or_no_newline_comes_back_intact(payload):
    stream = record("O", "3", payload) + record("S", "3 0")
    assert parse_in_chunks(stream, 1 << 20) == [Record("O", ("3",), payload),
                                                Record("S", ("3", "0"))]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_records_cut_at_every_byte_boundary_parse_the_same(size):
    stream = b"".join(record("O", str(i), payload) for i, payload in enumerate(HOSTILE))
    stream += record("T", "0 p7 3 -1") + record("C", "0 p7", b"ssh: refused\r")
    whole = parse_in_chunks(stream, len(stream))
    assert parse_in_chunks(stream, size) == whole
    assert [r.data for r in whole[:len(HOSTILE)]] == HOSTILE
    assert whole[-2] == Record("T", ("0", "p7", "3", "-1"), b"")
    assert whole[-1].position == "0" and whole[-1].fields[1] == "p7"


def test_ten_megabyte_line_is_one_record_without_quadratic_copying():
    payload = b"x" * (10 << 20)
    stream = record("O", "1", payload)
    records = parse_in_chunks(stream, 1 << 16)
    assert len(records) == 1 and records[0].data == payload


def test_junk_between_records_is_reported_and_parsing_resumes():
    stream = b"perl warning\n" + record("S", "1 0") + b"garbage" + record("O", "2", b"ok")
    records = parse_in_chunks(stream, 5)
    kinds = [r.kind for r in records]
    assert kinds.count("junk") >= 2
    assert Record("S", ("1", "0")) in records
    assert Record("O", ("2",), b"ok") in records
    assert b"".join(r.data for r in records if r.kind == "junk") == b"perl warning\ngarbage"


def test_malformed_header_is_junk_not_a_stall():
    stream = MARKER + b"O x y z\n" + MARKER + b"Q 1\n" + record("S", "4 256")
    records = parse_in_chunks(stream, 3)
    assert records[-1] == Record("S", ("4", "256"))
    assert all(r.kind == "junk" for r in records[:-1])


def test_truncated_record_at_end_of_stream_is_flushed_as_junk():
    parser = RecordParser()
    assert parser.feed(record("O", "1", b"0123456789")[:-4]) == []
    leftover = parser.flush()
    assert len(leftover) == 1 and leftover[0].kind == "junk"
    assert parser.flush() == []


def test_header_without_newline_does_not_grow_forever():
    parser = RecordParser()
    records = parser.feed(MARKER + b"O " + b"9" * 10000)
    assert records and records[0].kind == "junk"


@pytest.mark.parametrize("status, expected", [("0", 0), ("768", 3), ("9", -9), ("15", -15),
                                              ("nonsense", None)])
def test_wait_status_becomes_subprocess_exit_code(status, expected):
    assert exit_code_from_status(status) == expected


COMMANDS = [
    "echo plain",
    'echo "]" x ] -] ; echo semi',
    "printf '%s\\n' \"$(echo sub)\" '[ a ]' \\\\back",
    "echo 'single' \"double\" `echo back`; echo $((1+2))",
    "echo é ü 日本",
    "for i in 1 2; do echo $i; done\necho newline",
    "echo ! % \\\\ { } ( ) , ;",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_encoded_command_runs_exactly_like_the_original_in_sh(command):
    encoded = encode_command(command)
    assert "[" not in encoded and "]" not in encoded and "!" not in encoded
    assert "\n" not in encoded and ";" not in encoded
    original = subprocess.run(["/bin/sh", "-c", command], capture_output=True)
    decoded = subprocess.run(["/bin/sh", "-c", encoded], capture_output=True)
    assert (decoded.stdout, decoded.returncode) == (original.stdout, original.returncode)


def test_encoded_command_keeps_its_exit_code():
    result = subprocess.run(["/bin/sh", "-c", encode_command("exit 7")])
    assert result.returncode == 7


def test_escaped_path_has_every_special_character_escaped():
    assert escape_argument("/tmp/a b]/c!d") == "/tmp/a! b!]/c!!d"
    assert escape_argument("node-1.x_y/=:+@,") == "node-1.x_y/=:+@,"


def run_templates(streams, line, eol=b""):
    """Evaluate our templates with the real perl, as taktuk does, with
    taktuk's variables set."""
    script = (
        'binmode STDOUT; '
        'our ($position, $peer_position, $rank, $type, $level_name, $peers_given) = '
        '("4", "7", 2, "info", "ERROR", "node-9:9"); '
        'our $line = pack("H*", $ARGV[0]); our $eol = pack("H*", $ARGV[1]); '
        'for my $t (@ARGV[2..$#ARGV]) { print eval($t); die $@ if $@; }'
    )
    args = [line.hex(), eol.hex()] + [TEMPLATES[s] for s in streams]
    env = dict(os.environ, LC_ALL="C")
    out = subprocess.run(["perl", "-e", script] + args, capture_output=True, env=env,
                         check=True).stdout
    return RecordParser().feed(out)


needs_perl = pytest.mark.skipif(shutil.which("perl") is None,
                                reason="perl is needed to run the templates")


@needs_perl
@pytest.mark.parametrize("line, eol", [(b"hello", b"\n"), (MARKER + b"S 1 0", b""),
                                       (b"\x00\xff" * 1000, b"\n")])
def test_perl_data_templates_print_records_our_parser_reads_back(line, eol):
    records = run_templates(["output", "error", "connector", "taktuk", "info"], line, eol)
    assert records == [Record("O", ("4",), line + eol), Record("E", ("4",), line + eol),
                       Record("C", ("4", "p7"), line), Record("K", ("4",), b"ERROR " + line),
                       Record("X", ("info", "4"), line)]


@needs_perl
def test_perl_status_and_state_templates_print_records_our_parser_reads_back():
    assert run_templates(["status", "state"], b"768") == [
        Record("S", ("4", "768")), Record("T", ("4", "p7", "768", "2"), b"node-9:9")]
