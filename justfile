# JitRealm tasks. `just run` and `just test` are all a newcomer needs.

set shell := ["bash", "-euo", "pipefail", "-c"]

python := env_var_or_default("PYTHON", "python3")
venv := ".venv"
bin := venv / "bin"

# Start the server on the default ports (telnet 4000, HTTP 4080), building the world first.
run *ARGS: setup build-world
    {{bin}}/jitrealm run {{ARGS}}

# Run the test suite.
test *ARGS: setup build-world
    {{bin}}/python -m pytest {{ARGS}}

# Create .venv if it is missing and install JitRealm with its toolchains and dev tools.
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{bin}}/python ]; then
        {{python}} -c 'import sys; assert sys.version_info >= (3, 11), "JitRealm needs Python 3.11+"'
        {{python}} -m venv {{venv}}
    fi
    stamp={{venv}}/.installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        {{bin}}/python -m pip install --quiet --upgrade pip
        {{bin}}/python -m pip install --quiet -e '.[world,dev]'
        touch "$stamp"
    fi

# Compile every blueprint under world-src into build/ (incremental).
build-world *PATHS: setup
    {{bin}}/jitrealm build {{PATHS}}

# Run the benchmarks; each prints one JSON document.
bench: setup build-world
    {{bin}}/python bench/sandbox.py
    {{bin}}/python bench/driver.py
    {{bin}}/python bench/persist.py
    {{bin}}/python bench/net.py
    {{bin}}/python bench/e2e.py
    {{bin}}/python bench/workers.py
    {{bin}}/python bench/rooms.py
    {{bin}}/python bench/crowd.py
    {{bin}}/python bench/hostile.py
    {{bin}}/python bench/tenants.py
    {{bin}}/python bench/authors.py

# Static checks: ruff, mypy (strict on driver/ and sandbox/), and the import contracts.
lint: setup
    {{bin}}/ruff check .
    {{bin}}/mypy
    {{bin}}/lint-imports
