# Two commands a newcomer needs: `make demo` and `make test`. Each sets up everything it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export TICKETGATE_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: demo test lint bench mutants setup system-deps lock clean

demo: $(STAMP)
	$(BIN)/ticketgate demo

# Three test processes (pytest-xdist) on two cores: most tests wait on PostgreSQL, sockets and
# subprocesses, so the suite takes about half the time of one process. TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check ticketcode ticketqr backend scanner monitor ticketgate tests bench
	$(BIN)/ruff format --check ticketcode ticketqr backend scanner monitor ticketgate tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

# Each benchmark prints its figures and the command that reproduces it; together about 25 minutes.
# Longer or special ones run on their own: gate_conditions (20 min), scale_out (--pgbouncer needs
# PgBouncer), http_guard (the HTTP head guard's cost).
bench: $(STAMP)
	for b in flash_sale checkout_db verify_bench decode_bench gate_latency metrics_scrape sync_bench; do \
		$(BIN)/python bench/$$b.py || exit 1; \
	done

# Mutation testing of the modules that hold the promises ([tool.mutmut] in pyproject.toml): hours on
# 2 cores, so not part of `make test`. A re-run continues where the last one stopped and re-tests only
# what changed; MUTANTS='scanner.verdicts*' limits it to matching mutants. Ends with the score per module.
mutants: $(STAMP)
	$(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python tests/mutation_scores.py

setup: $(STAMP)

# libzbar0 is the C library pyzbar loads at run time (pip cannot install it); libcairo2 is the one
# cairosvg loads (the tests rasterise the buyer's SVG tickets with it); Debian's python3 needs
# python3-venv to make a virtualenv.
system-deps:
	@missing=""; \
	ldconfig -p | grep -q 'libzbar.so.0' || missing="$$missing libzbar0"; \
	ldconfig -p | grep -q 'libcairo.so.2' || missing="$$missing libcairo2"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The development environment: what runs (requirements.lock) plus the tools that test and check it
# (requirements-dev.lock holds both, with the same versions). A gate laptop or server needs only
# requirements.lock (README, "Two commands").
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock | system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/python -m uv pip install -q --python $(BIN)/python -r requirements-dev.lock
	$(BIN)/python -m uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# Resolve what pyproject.toml asks for, keeping the versions already locked (add --upgrade by hand for
# newer ones): the runtime lock first, then the development lock constrained to it, so both hold the
# same version of every package they share (then make test).
lock: $(STAMP)
	$(BIN)/python -m uv pip compile -q pyproject.toml --custom-compile-command "make lock" \
		-o requirements.lock
	$(BIN)/python -m uv pip compile -q pyproject.toml --extra dev -c requirements.lock \
		--custom-compile-command "make lock" -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants
