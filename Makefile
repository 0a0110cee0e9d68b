# Single entry point. A newcomer needs two targets: `make demo` and `make test`.
# Everything else (venv, build) is set up on demand by those targets.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)

# Python packages the tests, benchmarks, demo and page need (installed from PyPI into .venv).
DEV_DEPS := "maturin>=1.7,<2" "numpy>=1.26" "pandas>=2.0" "pytest>=7" "arch>=6" "scipy>=1.10" \
            "streamlit>=1.30" "altair>=5" "pyarrow>=14" "selenium>=4" "mypy>=1.8" "ruff>=0.6" \
            "zizmor>=1.0" "check-jsonschema>=0.28" "dask[dataframe]>=2024.1" "distributed>=2024.1" \
            "psycopg[binary]>=3.1"

# The oldest versions the analyzer may pin: the whole pytest suite runs again against them in a
# second venv (same abi3 extension). pyarrow < 20 because newer wheels need numpy 2.
COMPAT_VENV := .venv-compat
COMPAT_DEPS := "maturin>=1.7,<2" "numpy==1.26.*" "pandas==2.2.*" "pyarrow>=14,<20" "pytest>=7" "ruff>=0.6" \
               "arch>=6" "scipy>=1.10" "streamlit>=1.30" "altair>=5" "selenium>=4" "mypy>=1.8"


.PHONY: lint test-analyzer-if-present
.PHONY: venv build browser test test-rust test-py test-compat test-analyzer test-analyzer-suite demo bench stress calibrate size-study fuzz \
        clean wheel test-wheel test-pip-pysqlite3 pg-up pg-down

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
	$(PY) -m pytest tests_py -q -rs

$(COMPAT_VENV)/.deps-stamp: Makefile pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q $(COMPAT_DEPS)
	touch $@

test-compat: build browser $(COMPAT_VENV)/.deps-stamp
	VIRTUAL_ENV=$(abspath $(COMPAT_VENV)) PATH=$(abspath $(COMPAT_VENV))/bin:$$PATH maturin develop --release --quiet
	$(COMPAT_VENV)/bin/python -c "import numpy, pandas; print('compat: numpy', numpy.__version__, 'pandas', pandas.__version__)"
	$(COMPAT_VENV)/bin/python -m pytest tests_py -q -rs

# Format and lint gates: rustfmt, clippy (all targets, the Python bindings included, warnings are
# errors), the Rust module-cycle check (scripts/check_module_cycles.py), ruff (lint and format),
# mypy on the package, and the release workflow checked against GitHub's workflow schema and
# audited by zizmor (offline; .github/zizmor.yml).
lint: venv
	cargo fmt --check
	cargo clippy --quiet --all-targets --features python -- -D warnings
	$(PY) scripts/check_module_cycles.py src
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline --quiet --config .github/zizmor.yml .github/workflows

# The analyzer's own suite through the package, when an analyzer tree sits beside this repository
# (it does in CI: ../shared/analyzer/c79684b). Without one, says so and passes: `make test` must
# work on a machine that has no analyzer checkout.
SHARED_ANALYZER := $(abspath ../shared/analyzer/c79684b)
test-analyzer-if-present:
	@if [ -d "$(SHARED_ANALYZER)/crypto_analyzer" ]; then \
	  $(MAKE) --no-print-directory test-analyzer ANALYZER_DIR="$(SHARED_ANALYZER)"; \
	else echo "test-analyzer: no analyzer tree at $(SHARED_ANALYZER); skipped"; fi

# Everything: the gates, cargo tests, the pytest suite on the newest and the oldest numpy/pandas,
# the released wheel and `pip install .` in clean virtualenvs (also with pysqlite3 as sqlite3),
# and the analyzer's own suite through the package when its tree is present. The pytest suites
# start a throwaway PostgreSQL cluster (installed from Debian's packages when missing).
test: build lint test-rust test-py test-compat test-wheel test-pip-pysqlite3 test-analyzer-if-present

# The analyzer's whole CI (its .github/workflows/ci.yml, step by step) on fresh clones of its tree,
# alone and adopted, with the built wheel served from a package index on 127.0.0.1 and uv from the
# package registry (scripts/analyzer_ci.py; docs/analyzer.md). Fails unless every step and test
# that passes alone passes adopted (one documented test excepted, by id) and `adopt --restore`
# gives the analyzer's files back byte for byte. CI runs it against ../shared/analyzer/c79684b.
ANALYZER_DIR ?=
UV_VENV := .venv-uv
$(UV_VENV)/.deps-stamp: Makefile
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install -q --upgrade pip
	$(UV_VENV)/bin/python -m pip install -q "uv>=0.9"
	touch $@

test-analyzer: build wheel $(UV_VENV)/.deps-stamp
	@[ -n "$(ANALYZER_DIR)" ] || { echo "usage: make test-analyzer ANALYZER_DIR=path/to/analyzer"; exit 2; }
	$(PY) scripts/analyzer_ci.py --analyzer "$(ANALYZER_DIR)" --uv $(UV_VENV)/bin/uv \
	  --wheel $$(ls $(WHEEL_DIR)/crypto_analyzer_promotion-*.whl)

# The 51 analyzer test files that reach the replaced modules, run with this repository's .venv
# (numpy 2.x, pandas 3.x: newer than the analyzer's lock) through an adopted copy of the tree.
# Not part of `make test` (test-analyzer runs the whole suite on the analyzer's own lock).
test-analyzer-suite: build
	@[ -n "$(ANALYZER_DIR)" ] || { echo "usage: make test-analyzer-suite ANALYZER_DIR=path/to/analyzer"; exit 2; }
	scripts/test_analyzer.sh "$(ANALYZER_DIR)" $(PY)

# Release wheel as users get it: abi3, manylinux tag (maturin's auditwheel check/repair). The
# extension links no SQLite (docs/sqlite.md); check_wheel.py fails if one was packed or linked.
WHEEL_DIR := target/wheels
wheel: venv
	rm -f $(WHEEL_DIR)/crypto_analyzer_promotion-*.whl
	maturin build --release --quiet --out $(WHEEL_DIR)
	$(PY) scripts/check_wheel.py $(WHEEL_DIR)/crypto_analyzer_promotion-*.whl

# The store, connection, concurrency and crash tests against an INSTALLED package, run from a
# temporary folder (the source tree's python/ is not importable; the session asserts where the
# package came from), with 20 rounds of the caller open/close test. Each venv also gets
# pysqlite3-binary and a .pth hook that swaps it in as `sqlite3` when
# CRYPTO_ANALYZER_TEST_SQLITE3=pysqlite3: a caller whose sqlite3 carries its own SQLite copy.
TEST_REPEAT ?= 20
INSTALLED_DEPS := "pytest>=7" "streamlit>=1.30" "altair>=5" pysqlite3-binary
define prepare_test_venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --upgrade pip
	cp scripts/pysqlite3_as_sqlite3.py $$($(1)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/
	echo "import pysqlite3_as_sqlite3" > $$($(1)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/pysqlite3_as_sqlite3.pth
endef
define run_installed_tests
	cd $$(mktemp -d) && env -u VIRTUAL_ENV $(2) $(abspath $(1))/bin/python $(CURDIR)/scripts/test_installed.py --repeat $(TEST_REPEAT) $(3)
endef

WHEEL_VENV := .venv-wheel
test-wheel: wheel
	$(call prepare_test_venv,$(WHEEL_VENV))
	$(WHEEL_VENV)/bin/python -m pip install -q $(WHEEL_DIR)/crypto_analyzer_promotion-*.whl $(INSTALLED_DEPS)
	$(call run_installed_tests,$(WHEEL_VENV),,--sqlite3 stdlib)
	$(call run_installed_tests,$(WHEEL_VENV),CRYPTO_ANALYZER_TEST_SQLITE3=pysqlite3,--sqlite3 pysqlite3)

# `pip install .` (maturin builds from source) with pysqlite3 as sqlite3.
PIP_VENV := .venv-pip-pysqlite3
test-pip-pysqlite3: venv
	$(call prepare_test_venv,$(PIP_VENV))
	env -u VIRTUAL_ENV $(PIP_VENV)/bin/python -m pip install -q . $(INSTALLED_DEPS)
	$(call run_installed_tests,$(PIP_VENV),CRYPTO_ANALYZER_TEST_SQLITE3=pysqlite3,--sqlite3 pysqlite3)

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

# Size study (about 10 min on 2 cores): RC, studentized/unstudentized SPA and Romano–Wolf FWER on
# AR(1) null panels, 20 data seeds x 200 replications, with Monte-Carlo errors (docs/size_study.md).
CALIBRATE_ARGS ?= --seeds 20 --reps 200
calibrate: build
	$(PY) scripts/calibrate.py $(CALIBRATE_ARGS)

# Size and power over the designs users run (T 250…5,000, K 10…1,000, dependence, t(4) shocks,
# GARCH, a common factor, both bootstraps) with arch's SPA and StepM on the same panels
# (docs/size_study.md has the tables and the run time). `SIZE_STUDY_ARGS=--quick` is a smoke run.
SIZE_STUDY_ARGS ?= --panels 400 --auto-block
size-study: build
	$(PY) scripts/size_power_study.py $(SIZE_STUDY_ARGS)

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
	rm -rf $(VENV) $(COMPAT_VENV) $(WHEEL_VENV) $(PIP_VENV) target
