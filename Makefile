# The two set-up commands of the README: `make demo` and `make test`.
# (PYTHONWARNINGS=ignore: setuptools' editable-install notices are not for users.)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
KAFKA := deploy/kafka/kafka-local

.PHONY: install demo test unit integration lint chaos kafka-start kafka-stop bench clean

# setup.py compiles engine modules (mypyc) at install: an edited one installs again.
ENGINE := $(wildcard streams/engine/*.py)

$(BIN)/slastream: pyproject.toml setup.py $(ENGINE)
	$(PYTHON) -m venv $(VENV)
	PYTHONWARNINGS=ignore $(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(BIN)/slastream

demo: install
	$(KAFKA) start
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${KAFKA_PORT:-19092} $(BIN)/slastream demo

# Type-checks, then runs every test; starts its own broker unless KAFKA_BOOTSTRAP_SERVERS points at one.
test: install
	$(BIN)/mypy
	$(BIN)/pytest -q

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

# The full versions of what `make test` runs short: live equals replay (40,000 events, two
# runs), hostile input (100,000 records), two workers splitting partitions, and for three seeds 20 SIGKILLs (every
# fourth with the sink), a second worker for 20 s, a 20 s broker stop, a 20 s full ClickHouse disk and two ClickHouse
# parts broken between sink runs (40,000 events each), every table compared. Each stage keeps its processes' logs under var/chaos/ (pytest's
# own temp directories rotate away after three runs).
chaos: install
	$(KAFKA) start
	mkdir -p var/chaos
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${KAFKA_PORT:-19092} HARNESS_EVENTS=40000 FUZZ_RECORDS=100000 MULTI_WORKER=1 \
	  $(BIN)/pytest -q -s -p no:cacheprovider --basetemp=var/chaos/stage1 tests/integration/test_live_equals_replay.py \
	  tests/integration/test_fuzz.py tests/integration/test_sla_live.py
	for seed in 1 2 3; do \
	  KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${KAFKA_PORT:-19092} CHAOS_KILLS=20 CHAOS_EVENTS=40000 CHAOS_OUTAGE_S=20 \
	    CHAOS_SEED=$$seed $(BIN)/pytest -q -s -p no:cacheprovider --basetemp=var/chaos/seed$$seed \
	    tests/integration/test_chaos.py || exit 1; \
	done

lint: install
	$(BIN)/mypy

kafka-start:
	$(KAFKA) start

kafka-stop:
	$(KAFKA) stop

bench: install
	$(KAFKA) start
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${KAFKA_PORT:-19092} $(BIN)/python bench/ingest.py
	$(BIN)/python bench/clocks.py
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${KAFKA_PORT:-19092} $(BIN)/python bench/tickets.py
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${KAFKA_PORT:-19092} $(BIN)/python bench/probes.py --live 60000
	$(BIN)/python bench/whatif.py

# Removes the compiled engine and the install stamp with it: the next make installs and compiles again.
clean:
	rm -rf var .kafka-local build streams/engine/*.so slastream_engine__mypyc*.so $(BIN)/slastream
