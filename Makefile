# execo: make install [PREFIX=$HOME/.local] | make demo | make test | make bench | make doc
PYTHON ?= python3
PREFIX ?=
# Debian's own python refuses system-wide pip installs (PEP 668) unless told.
PIP_FLAGS := $(shell $(PYTHON) -c "import os, sysconfig; print('--break-system-packages' if os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')) else '')" 2>/dev/null)
PIP := $(PYTHON) -m pip install -q $(PIP_FLAGS) --root-user-action=ignore
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -q
# what the library needs at run time: ssh clients, an sshd for the loopback test bed, taktuk
RUNTIME_DEBS := python3 python3-pip python3-venv openssh-client openssh-server taktuk tzdata
# iproute2, nftables, netcat-openbsd: the emulated test bed (namespaces, tc, nft, ProxyCommand);
# socat: the pseudo-serial lines of the Serial tests
TEST_DEBS := $(RUNTIME_DEBS) clustershell pdsh procps iproute2 openssl strace nftables netcat-openbsd socat

.PHONY: all install deps test-deps demo test bench doc clean

all: install

deps:
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then apt-get update -q && $(APT) $(RUNTIME_DEBS); fi
	$(PIP) requests keyring ClusterShell tqdm

# PREFIX=$HOME/.local is pip's --user scheme (Debian's python would otherwise
# add a local/ level under a --prefix and miss its own search path).
install:
	$(PIP) $(if $(PREFIX),$(if $(filter $(HOME)/.local $(HOME)/.local/,$(PREFIX)),--user,--prefix=$(PREFIX))) .

demo:
	$(PYTHON) -m execo.demo

test-deps:
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then apt-get update -q && $(APT) $(TEST_DEBS); fi
	$(PIP) pytest pytest-timeout requests keyring keyrings.alt sphinx paramiko ipython 'psycopg[binary]' matplotlib wheel ClusterShell tqdm

test:
	$(PYTHON) -m pytest -q -rs --durations=30 tests

bench:
	$(PYTHON) benchmarks/run_all.py

doc:
	$(PYTHON) -m sphinx -W -b html doc doc/_build/html

clean:
	rm -rf build dist *.egg-info doc/_build .pytest_cache
