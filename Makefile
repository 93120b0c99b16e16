# Portbook. `make` sets up .venv, checks the data and builds every output;
# `make test` runs the test suite. Targets are incremental: each output is
# rebuilt only when the data, the settings or the generator sources change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
BUILD  ?= build
STAMPS := $(BUILD)/.stamps
READY  := $(VENV)/.installed

DATA_DIR ?= data
DATA     := $(shell find $(DATA_DIR) -type f -not -name '.*' 2>/dev/null)
# The generator's code, and the site's scripts and styles, which the site copies.
SOURCES  := $(shell find generator -name '*.py' -o -name '*.rst' -o -path 'generator/site/static/*' -type f 2>/dev/null)
# Every module or package in generator/outputs/ is a format built by `portbook build`.
FORMATS  := $(filter-out _%,$(basename $(notdir $(wildcard generator/outputs/*.py))) \
                $(notdir $(patsubst %/__init__.py,%,$(wildcard generator/outputs/*/__init__.py))))
# source/roles/ holds the role pages' sources the extension generates from the data.
SITE_SRC := conf.py $(shell find source -path source/roles -prune -o -type f -print 2>/dev/null)
SPHINXOPTS ?= -q -W --keep-going -n

.PHONY: all setup check build html serve test fuzz bench golden clean $(FORMATS)
.DELETE_ON_ERROR:

all: $(STAMPS)/all

setup: $(READY)

$(READY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Python compiles every module it finds no current .pyc for, at each start where it is
# told not to write one (PYTHONDONTWRITEBYTECODE): about 0.2 s for the generator. pip
# does not compile an editable install, so make compiles it after each change.
COMPILED := $(STAMPS)/$(notdir $(VENV)).compiled

$(COMPILED): $(READY) $(SOURCES)
	@mkdir -p $(STAMPS)
	$(PY) -m compileall -q generator
	touch $@

check: $(STAMPS)/check

# A stamp says its outputs were made from the data as it is now. It takes the time its
# recipe started, and is not touched (the recipe fails, saying so) if a data file changed
# while the recipe ran: that edit would be in some outputs and not in others.
# Each recipe runs $(started) first and $(call stamp,STAMPS) last.
started = @mkdir -p $(STAMPS) && touch $@.started
define stamp
@if [ -n "$$(find $(DATA_DIR) -type f -not -name '.*' -newer $@.started -print -quit)" ]; then \
	rm -f $@.started; echo "make: $(DATA_DIR) changed during the $(@F) step, so its outputs may not show the change; run make again" >&2; exit 1; fi
@touch -r $@.started $(1) && rm -f $@.started
endef

$(STAMPS)/check: $(COMPILED) $(DATA) $(SOURCES)
	$(started)
	$(PY) -m generator check --data $(DATA_DIR)
	$(call stamp,$@)

# `make` checks the data, writes every format and builds the site in one process, so
# the data is read and checked once. `make build` writes the formats without the site,
# `make html` the site alone, `make xlsx` (or markdown, policy) one format. The site is
# read again in full (--site-fresh) after a change to the generator or conf.py (see html).
comma := ,
empty :=
space := $(empty) $(empty)
# Whether the site was never built, or the generator or conf.py changed since it last was
# (by `make` or by `make html`).
site_code_changed = $(if $(wildcard $(STAMPS)/html),$(shell find $(SOURCES) conf.py -newer $(STAMPS)/html -print -quit 2>/dev/null),yes)
$(STAMPS)/all: $(COMPILED) $(DATA) $(SOURCES) $(SITE_SRC)
	$(started)
	$(PY) -m generator build --formats $(subst $(space),$(comma),$(FORMATS)),html --data $(DATA_DIR) --out $(BUILD) \
		--sphinx-options "$(SPHINXOPTS)" $(if $(site_code_changed),--site-fresh)
	$(call stamp,$@ $(addprefix $(STAMPS)/,check build html $(FORMATS)))

build: $(STAMPS)/build

$(STAMPS)/build: $(COMPILED) $(DATA) $(SOURCES)
	$(started)
	$(PY) -m generator build --data $(DATA_DIR) --out $(BUILD)
	$(call stamp,$@ $(addprefix $(STAMPS)/,check $(FORMATS)))

$(FORMATS): %: $(STAMPS)/%

$(STAMPS)/%: $(COMPILED) $(DATA) $(SOURCES)
	$(started)
	$(PY) -m generator build --formats $* --data $(DATA_DIR) --out $(BUILD)
	$(call stamp,$@)

html: $(STAMPS)/html

# Sphinx re-reads pages whose data changed by itself; after a change to the extension
# or conf.py every page is re-read (--site-fresh), since Sphinx cannot tell what the
# code touched. Sphinx builds into $(BUILD)/.site/html; the site is published from there
# with the other formats' generations, all at once.
$(STAMPS)/html: $(STAMPS)/build $(SITE_SRC) $(SOURCES)
	$(started)
	$(PY) -m generator build --formats html --data $(DATA_DIR) --out $(BUILD) --sphinx-options "$(SPHINXOPTS)" \
		$(if $(site_code_changed),--site-fresh)
	$(call stamp,$@)

# Live preview: serves the site on HOST:PORT (PORT=0 picks a free one) and, whenever the
# data, the pages or conf.py change, runs the incremental build of the other formats and
# Sphinx again, then reloads the browser. It prints the address to open.
HOST ?= 127.0.0.1
PORT ?= 8000
serve: $(COMPILED)
	$(PY) -m sphinx_autobuild -b html -c . -q -n -D portbook_data=$(abspath $(DATA_DIR)) \
		--watch $(DATA_DIR) --watch conf.py --ignore 'source/roles/*' --host $(HOST) --port $(PORT) \
		--pre-build "$(MAKE) --no-print-directory build DATA_DIR=$(DATA_DIR) BUILD=$(BUILD)" \
		source $(BUILD)/.site/html

test: $(COMPILED)
	$(PY) -m pytest

# Every test marked slow: the fuzz suite at a thousand examples per property (`make test`
# runs a few dozen, derandomised), the prefilters against the exact scan with random
# seeds, builds killed at a hundred points (`make test` kills ten), and a role at the
# sheet's row limit.
fuzz: $(COMPILED)
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -m slow tests/

# Rewrites tests/golden/ from the shipped data; review the diff before committing it.
golden: $(READY)
	PORTBOOK_UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/test_golden.py

bench: $(COMPILED)
	$(PY) benchmarks/run.py --skip-slow-baselines --timeout 600

clean:
	rm -rf $(BUILD)
