# Two commands do everything on a fresh clone:  `make run`  and  `make test`.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SCALE   := $(VENV)/.installed-scale
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install scale run test lint typecheck pytest browser postgres clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0          # CPU wheel first; an unpinned torch pulls a CUDA build
	$(BIN)/pip install --quiet -e '.[test,eval,fast]'
	touch $(STAMP)

$(SCALE): $(STAMP) pyproject.toml   # Ray, Milvus Lite, psycopg: only the tests of the scale-out paths need them
	$(BIN)/pip install --quiet -e '.[test,eval,fast,scale]'
	touch $(SCALE)

install: $(STAMP)   ## create .venv and install the bot with its test tools

run: install        ## index the default corpus if needed, then serve the chat on http://127.0.0.1:8000
	$(BIN)/bot serve

browser:            ## Debian's chromium for the browser tests (Playwright drives it; no browser download)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

postgres:           ## Debian's postgresql for tests/test_database.py (it runs initdb + pg_ctl in a temporary folder)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

lint: install
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

typecheck: install
	$(BIN)/mypy bot

scale: $(SCALE)      ## the optional scale-out extras (.[scale]: ray, pymilvus, milvus-lite, psycopg)

pytest: install scale browser postgres
	$(BIN)/pytest -q

test: lint typecheck pytest   ## the whole suite: ruff, mypy, pytest (CI runs exactly this)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
