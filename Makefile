# The two commands the README gives: `make run` and `make test`. CI calls `make test` too.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := plugins/pdq plugins/phash plugins/md5 plugins/tmk_video
STAMP := $(VENV)/.installed-stamp

.PHONY: venv run serve hash-samples test lint typecheck pytest bench clean proto

venv: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' $(addprefix -e ,$(PLUGINS))
	touch $@

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

bench: venv
	$(PY) -m pytest bench --benchmark-enable --benchmark-columns=min,median,mean,ops,rounds

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
