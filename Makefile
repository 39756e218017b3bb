# pyvswitch: every target sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pyvswitchd also runs on PyPy (Debian's pypy3, Python 3.9), whose JIT makes the flow-table
# paths about twice as fast: .venv-pypy holds the package for it (docs/benchmarks.md).
PYPY ?= pypy3
PYPY_VENV := .venv-pypy
PYPY_STAMP := $(PYPY_VENV)/.installed
# Integration tests run a second time with the daemon on PyPy (the tests stay on CPython).
PYPY_TESTS := $(addprefix tests/integration/,test_ofctl_flows.py test_ofctl_bundle_monitor.py \
	test_ofctl_groups_meters.py test_ofctl_basics.py test_malformed_openflow.py \
	test_forwarding.py test_packet_in.py test_dpctl.py test_daemon.py test_ovsdb.py test_tls.py) \
	--deselect tests/integration/test_packet_in.py::test_transmit_queue_cap_keeps_memory_flat
# (that test reads "memory flat" off the RSS over 5 s, which holds for CPython's reference
# counting; PyPy's collector lets garbage grow for a while before a major collection.)

.PHONY: all setup system venv pypy demo test unit integration bench clean

all: test

system:
	@bash tools/setup-system.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

$(PYPY_STAMP): pyproject.toml
	$(PYPY) -m venv $(PYPY_VENV)
	$(PYPY_VENV)/bin/python -m pip install -q -e .
	touch $(PYPY_STAMP)

pypy: system $(PYPY_STAMP)

setup: system venv pypy

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests
	PYVSWITCH_DAEMON_PYTHON=$(CURDIR)/$(PYPY_VENV)/bin/python \
		$(PY) -m pytest -q -p no:cacheprovider $(PYPY_TESTS)

unit: venv
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

integration: setup
	$(PY) -m pytest -q -p no:cacheprovider tests/integration

bench: setup
	$(PY) bench/run_all.py $(ARGS)

# os-ken's switch test tool against pyvswitchd (needs root). Everything by default (about an
# hour); ARGS picks: make conformance ARGS=of13/group, ARGS=of13/action/00_OUTPUT.json,
# ARGS="--subset ci --compare tests/conformance/pass_list.json". See docs/conformance.md.
.PHONY: conformance
conformance: setup
	$(PY) tools/conformance.py $(or $(ARGS),of10 of13 of14)

clean:
	rm -rf $(VENV) $(PYPY_VENV) build src/*.egg-info

# Long fuzzing: every hypothesis test in tests/unit with FUZZ_SCALE times its examples
# (fresh random data, no replay database). docs/reliability.md has the last figures.
.PHONY: fuzz
FUZZ_SCALE ?= 20
fuzz: venv
	PYVSWITCH_FUZZ_SCALE=$(FUZZ_SCALE) $(PY) -m pytest -q -p no:cacheprovider \
		--hypothesis-show-statistics $(wildcard tests/unit/test_*fuzz*.py)

# Soak: mixed load against one pyvswitchd for MINUTES (default 10); needs root.
.PHONY: soak
MINUTES ?= 10
soak: setup
	$(PY) tools/soak.py --minutes $(MINUTES) $(ARGS)
