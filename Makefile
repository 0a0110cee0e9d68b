# Single entry point. A newcomer needs two targets: `make demo` and `make test`.
# Everything else (venv, build) is set up on demand by those targets.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)

# Python packages the tests, benchmarks, demo and page need (installed from PyPI into .venv).
DEV_DEPS := "maturin>=1.7,<2" "numpy>=1.26" "pandas>=2.0" "pytest>=7" "arch>=6" "scipy>=1.10" \
            "streamlit>=1.30" "altair>=5" "pyarrow>=14" "selenium>=4" "mypy>=1.8"

# The oldest versions the analyzer may pin: the whole pytest suite runs again against them in a
# second venv (same abi3 extension). pyarrow < 20 because newer wheels need numpy 2.
COMPAT_VENV := .venv-compat
COMPAT_DEPS := "maturin>=1.7,<2" "numpy==1.26.*" "pandas==2.2.*" "pyarrow>=14,<20" "pytest>=7" \
               "arch>=6" "scipy>=1.10" "streamlit>=1.30" "altair>=5" "selenium>=4" "mypy>=1.8"

.PHONY: venv build browser test test-rust test-py test-compat demo bench stress fuzz clean pg-up pg-down

$(VENV)/.deps-stamp: Makefile pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(DEV_DEPS)
	touch $@

venv: $(VENV)/.deps-stamp

# Release build: the statistics tests simulate thousands of bootstraps and need the optimized core.
build: venv
	maturin develop --release --quiet

test-rust:
	cargo test --release

# Headless Chromium + chromedriver for the page's browser test (Debian packages). Installed with
# apt-get when missing; never fails the build: without them that one test is skipped and says why.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  echo "browser: installing chromium and chromium-driver with apt-get"; \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver ) \
	    >/dev/null 2>&1 || echo "browser: could not install them; the browser test will be skipped"; \
	fi

test-py: build browser
	$(PY) -m pytest tests_py -q

$(COMPAT_VENV)/.deps-stamp: Makefile pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q $(COMPAT_DEPS)
	touch $@

test-compat: build browser $(COMPAT_VENV)/.deps-stamp
	VIRTUAL_ENV=$(abspath $(COMPAT_VENV)) PATH=$(abspath $(COMPAT_VENV))/bin:$$PATH maturin develop --release --quiet
	$(COMPAT_VENV)/bin/python -c "import numpy, pandas; print('compat: numpy', numpy.__version__, 'pandas', pandas.__version__)"
	$(COMPAT_VENV)/bin/python -m pytest tests_py -q

test: build test-rust test-py test-compat

demo: build
	$(PY) -m crypto_analyzer_promotion.demo

bench: build
	$(PY) benches/run_all.py

# Reliability, full size (minutes): 8 processes x 500 operations (API, CLI, Streamlit mixed), 40
# SIGKILLed registry writers, 30 SIGKILLed cache writers; every invariant checked. A smaller run of
# the same harness is part of `make test` (tests_py/reliability).
STRESS_ARGS ?= --workers 8 --ops 500
stress: build
	$(PY) scripts/stress.py $(STRESS_ARGS)

# True libFuzzer runs of every fuzz/ target (installs cargo-fuzz when missing; ~7 min to build).
# CI runs the same target bodies as plain cargo tests (tests/reliability_fuzz.rs) instead.
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# A throwaway PostgreSQL cluster to try the package against a server (installs Debian's
# postgresql package when initdb is missing; runs as an unprivileged user from a temporary
# directory on 127.0.0.1). `make pg-up` prints its postgresql:// URL (kept in .pg_cluster.env,
# readable by you only); `make pg-down` stops it and deletes everything. The test suites start
# their own cluster unless CRYPTO_ANALYZER_TEST_PG_URL names one.
pg-up:
	@if [ -f .pg_cluster.env ]; then echo "pg-up: a cluster is already up (make pg-down first):"; cat .pg_cluster.env; exit 1; fi
	@umask 077; scripts/pg_cluster.sh up > .pg_cluster.env || { rm -f .pg_cluster.env; exit 1; }
	@cat .pg_cluster.env

pg-down:
	@if [ -f .pg_cluster.env ]; then scripts/pg_cluster.sh down "$$(sed -n 's/^PG_DIR=//p' .pg_cluster.env)"; rm -f .pg_cluster.env; \
	 else echo "pg-down: no cluster started by make pg-up"; fi

clean:
	rm -rf $(VENV) $(COMPAT_VENV) target
