# pyvswitch: every target sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all setup system venv demo test unit integration bench clean

all: test

system:
	@bash tools/setup-system.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

setup: system venv

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests

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
	rm -rf $(VENV) build src/*.egg-info

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
