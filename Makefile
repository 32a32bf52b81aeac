# Eureka: `make run` starts the platform on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint format typecheck security bench clean-data

# Python dependencies: re-installed only when pyproject.toml or constraints.txt change.
$(BIN)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "Eureka needs Python 3.11 (found $$($(PYTHON) --version)); set PYTHON=/path/to/python3.11"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $@

# Front-end packages from the npm registry, into the git-ignored node_modules/.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(BIN)/.installed node_modules/.installed

run: install
	@$(BIN)/python -m eureka.launcher --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck:
	$(BIN)/mypy .

# bandit over our packages, pip-audit over the installed packages (.ci/security says more).
security: install
	.ci/security

bench: install
	$(BIN)/python bench/http_pages.py

# Back up the database (embedded, or DATABASE_URL) to FILE, by default
# backups/eureka-<UTC time>.dump; restore one (asks first). docs/backups.md says more.
.PHONY: backup restore
backup: install
	$(BIN)/python manage.py backup_db "$(or $(FILE),backups/eureka-$(shell date -u +%Y%m%d-%H%M%S).dump)"

restore: install
	@test -n "$(FILE)" || { echo "Name the backup to restore: make restore FILE=backups/eureka-....dump"; exit 2; }
	$(BIN)/python manage.py restore_db "$(FILE)"

# Removes the embedded database and demo logins (asks first).
clean-data:
	@read -p "Delete .data/ (the embedded database and demo logins)? [y/N] " a && [ "$$a" = y ] && rm -rf .data
