# The README's two commands: `make demo` and `make test`. Both work on a fresh machine:
# they create .venv, install CPU torch, the package with its test and train extras, and Graphviz's dot.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0

.PHONY: demo test check-examples graphviz bench clean

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

test: $(STAMP) graphviz
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info out
