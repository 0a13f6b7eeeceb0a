# The two commands the README gives: `make run` and `make test`. CI calls `make test` too.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := plugins/pdq plugins/phash plugins/md5 plugins/tmk_video plugins/vpdq
STAMP := $(VENV)/.installed-stamp
C_SOURCES := plugins/pdq/hashcore_pdq/_tent.c hashcore/_resample.c hashcore/_borders.c

.PHONY: venv bytecode run serve hash-samples test lint typecheck pytest bench bench-robustness mutate soak clean proto

venv: $(STAMP)

# A changed C source reinstalls too: editable installs compile extensions only when installed.
$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS)) $(C_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,milvus]' $(addprefix -e ,$(PLUGINS))
	$(MAKE) --no-print-directory bytecode
	touch $@

# Editable installs leave the sources uncompiled, unlike a wheel's install: every command would
# compile hashcore's modules first (~0.07 s of each start, each time where
# PYTHONDONTWRITEBYTECODE is set). Run again after editing sources to keep starts as a user's.
# Hidden folders are skipped: bench/.corpus holds the robustness corpus's unpacked packages.
bytecode:
	$(PY) -m compileall -q -x '/\.[^/]+/' hashcore server $(PLUGINS) bench >/dev/null

# The main job: the gRPC server with its embedded default store (./var/hashcore).
run: serve

serve: venv
	$(VENV)/bin/hashcore serve --listen $(or $(LISTEN),127.0.0.1:50051) --store $(or $(STORE),var/hashcore)

hash-samples: venv
	$(VENV)/bin/hashcore plugins
	$(VENV)/bin/hashcore hash tests/data

test: lint typecheck pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv
	$(PY) -m pytest

# Regenerate hashcore/api/v1 from proto/ (tests check it is current: generate.py --check).
proto: venv
	$(PY) proto/generate.py

bench: venv bytecode
	$(PY) -m pytest bench --benchmark-enable --benchmark-columns=min,median,mean,ops,rounds

# Robustness of every family and of the fused lookup to re-upload edits (bench/results/robustness.md).
# Fetches its corpus with apt-get download (Debian packages, cached in bench/.corpus with the
# prepared originals); see bench/README.md for run times. Quick mode: ROBUSTNESS_IMAGES=40 (an
# evenly spread, fixed subset). ROBUSTNESS_NAME=robustness-before writes
# bench/results/robustness-before.md; ROBUSTNESS_REVISION=92a69d5 measures that commit's engine
# (git archive, imported ahead of the editable installs) with this tree's benchmark.
bench-robustness: venv
	$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install --quiet -e '.[bench]'
	ROBUSTNESS_IMAGES=$(ROBUSTNESS_IMAGES) $(PY) -m bench.robustness --name $(or $(ROBUSTNESS_NAME),robustness) $(if $(ROBUSTNESS_REVISION),--revision $(ROBUSTNESS_REVISION))

# Mutation run over the modules that carry the matching and safety rules (docs/testing.md).
# Slow (about an hour on 2 cores), so not part of `make test`; mutants are applied only in
# copies under /tmp. MODULES=server/,hashcore/matching.py limits it to targets whose path
# contains one of the comma-separated strings; JOBS= sets the parallel copies.
mutate: venv
	$(PY) tools/mutate.py --jobs $(or $(JOBS),2) $(foreach m,$(subst $(comma), ,$(MODULES)),--module $(m))

comma := ,

# Long crash test: kill -9 the CLI and the server at random points of imports, bank add,
# compaction and snapshot writes, then `hashcore check` and resume (tests/test_crash_kill.py;
# `make test` runs its short form). KILLS= sets the number of kills, SEED= replays a run.
# Then a load soak on 127.0.0.1 (bench/soak_load.py): lookups, watches and an import at once,
# checked answers and latency percentiles; SOAK_SECONDS= (default 120), SOAK_THREADS= (8).
soak: venv
	HASHCORE_CRASH_KILLS=$(or $(KILLS),200) $(if $(SEED),HASHCORE_CRASH_SEED=$(SEED)) $(PY) -m pytest -p no:cacheprovider tests/test_crash_kill.py tests/test_feed_child_kill.py -s
	$(PY) bench/soak_load.py --seconds $(or $(SOAK_SECONDS),120) --threads $(or $(SOAK_THREADS),8)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
