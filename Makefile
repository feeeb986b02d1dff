# execo: make deps install demo | make test-deps test | make bench | make doc
#
# Everything Python goes into a virtual environment in this checkout ($(VENV)),
# never into the system interpreter: Debian's own python refuses such installs
# (PEP 668) for good reason, and upgrading a package another tool of the
# machine depends on breaks that tool. Debian packages (ssh, sshd, taktuk...)
# are installed with apt, as root, and left as Debian ships them.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip install -q --disable-pip-version-check
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -q
# what the library needs at run time: ssh clients, an sshd for the loopback test bed, taktuk
RUNTIME_DEBS := python3 python3-pip python3-venv openssh-client openssh-server taktuk tzdata
# iproute2, nftables, netcat-openbsd: the emulated test bed (namespaces, tc, nft, ProxyCommand);
# socat: the pseudo-serial lines of the Serial tests
TEST_DEBS := $(RUNTIME_DEBS) clustershell pdsh procps iproute2 openssl strace nftables netcat-openbsd socat
# apt only as root on a Debian-like machine; elsewhere the packages must be there already
APT_IF_ROOT = if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then apt-get update -q && $(APT) $(1); fi
# the virtual environment, created once (the system interpreter only runs `-m venv`)
MAKE_VENV = test -x $(VPY) || $(PYTHON) -m venv $(VENV)

.PHONY: all install deps test-deps demo test bench doc clean

all: install

deps:
	$(call APT_IF_ROOT,$(RUNTIME_DEBS))
	$(MAKE_VENV)
	$(PIP) requests keyring ClusterShell tqdm

install:
	$(MAKE_VENV)
	$(PIP) .
	@echo "execo is installed in $(abspath $(VENV)): run $(abspath $(VENV))/bin/execo," \
	      "or 'source $(VENV)/bin/activate' first"

demo:
	$(VPY) -m execo.demo

test-deps:
	$(call APT_IF_ROOT,$(TEST_DEBS))
	$(MAKE_VENV)
	$(PIP) pytest pytest-timeout requests keyring keyrings.alt sphinx paramiko ipython 'psycopg[binary]' matplotlib wheel ClusterShell tqdm networkx

test:
	$(VPY) -m pytest -q -rs --durations=30 tests

bench:
	$(VPY) benchmarks/run_all.py

doc:
	$(VPY) -m sphinx -W -b html doc doc/_build/html

clean:
	rm -rf build dist *.egg-info doc/_build .pytest_cache
