# The README's two commands: `make demo` and `make test`. Both work on a fresh machine:
# they create .venv, install CPU torch, the package with its test, train, tensorboard, export, lsp and serve extras,
# Graphviz's dot and (for the playground's browser tests) Debian's chromium.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0

.PHONY: demo test test-fast test-exhaustive lint check-examples graphviz chromium bench vsix screenshot clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# A pinned CPU build: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test,train,tensorboard,export,lsp,serve]'
	touch $(STAMP)

graphviz:
	@bash scripts/ensure_graphviz.sh

# Debian's Chromium for the playground's browser tests (tests/playground); they skip without it.
chromium:
	@bash scripts/ensure_chromium.sh

demo: $(STAMP) graphviz
	$(PY) examples/demo.py

# Checked annotations and lint, with the ruff and mypy pinned in the test
# extra; any finding fails the build. mypy reads its files and settings from pyproject.toml.
LINTED := compiler survae_dsl tests bench

lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy

test: $(STAMP) graphviz chromium lint
	$(PY) -m pytest -q -m "not exhaustive"

# The checks repeated over every zoo model (export of each to ONNX and .pt2: about 20 minutes on
# two cores), which `make test` leaves out: run before a release or after a runtime change.
test-exhaustive: $(STAMP) graphviz
	$(PY) -m pytest -q -m exhaustive

# The edit-test loop: lint and every test but those marked `slow` (training, statistical and
# subprocess checks; `make test` and CI still run them).
test-fast: $(STAMP) graphviz chromium lint
	$(PY) -m pytest -q -m "not slow and not exhaustive"

bench: $(STAMP) graphviz chromium
	$(PY) bench/run_all.py

# docs/playground.png, the README's picture of the playground: the browser tests' driver on the
# starter model with its softplus_inv line deleted (a lower bound, its leaking coupling in red).
screenshot: $(STAMP) graphviz chromium
	$(PY) scripts/playground_screenshot.py docs/playground.png

# The VS Code extension, editors/vscode/survae.vsix (needs Node.js and npm; not part of `make test`):
# the highlighting grammar is checked against grammar/survae.lark first; npm installs the
# extension's tools at the versions of the committed package-lock.json.
vsix: $(STAMP)
	$(PY) -m survae_dsl.lsp.textmate --check
	cd editors/vscode && npm ci --no-audit --no-fund && npm run package

clean:
	rm -rf $(VENV) build *.egg-info out
