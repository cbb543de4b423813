# The README's two commands: `make demo` and `make test`. Both work on a fresh machine:
# they create .venv, install CPU torch, the package with its test and train extras, and Graphviz's dot.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0

.PHONY: demo test test-fast lint check-examples graphviz bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# A pinned CPU build: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test,train]'
	touch $(STAMP)

graphviz:
	@bash scripts/ensure_graphviz.sh

demo: $(STAMP) graphviz
	$(PY) examples/demo.py

# Checked annotations and lint, with the ruff and mypy pinned in the test
# extra; any finding fails the build. mypy reads its files and settings from pyproject.toml.
LINTED := compiler survae_dsl tests bench

lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy

test: $(STAMP) graphviz lint
	$(PY) -m pytest -q

# The edit-test loop: lint and every test but those marked `slow` (training, statistical and
# subprocess checks; `make test` and CI still run them).
test-fast: $(STAMP) graphviz lint
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info out
