#!/usr/bin/env bash
# The Python tests: a virtual environment (target/pyenv, or $FLOE_VENV) with the
# packages of requirements-test.txt, the extension built into it by maturin (the dev
# profile, sharing target/ with `cargo test`), then pytest. Arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${FLOE_VENV:-$here/../target/pyenv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements-test.txt"
(cd "$here" && VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --quiet)
cd "$here"
exec "$venv/bin/python" -m pytest -q tests "$@"
