#!/usr/bin/env bash
# Makes .venv-faucet: a virtualenv of its own for the Faucet controller (PyPI `faucet`), which
# pins an older os-ken (3.1) than the project's .venv (4.x).  Idempotent: once the stamp file
# names the wanted version it returns at once, so a cached run costs nothing; a fresh one
# takes about a minute (pytricia is built from source, so it needs a C compiler).
#
#   tools/faucet_venv.sh [VENV_DIR]        # default: .venv-faucet beside this tools/ folder
#
# Prints the venv's directory on success.  Used by tests/integration/test_faucet.py.
set -euo pipefail

FAUCET_VERSION=${FAUCET_VERSION:-1.10.12}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$root/.venv-faucet}
stamp=$venv/.installed
python=${PYTHON:-python3}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "faucet==$FAUCET_VERSION" ] \
        && [ -x "$venv/bin/osken-manager" ]; then
    echo "$venv"
    exit 0
fi

# One installer at a time (two test runs could race on a fresh machine).
exec 9>"$root/.venv-faucet.lock"
flock 9
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "faucet==$FAUCET_VERSION" ]; then
    echo "$venv"
    exit 0
fi

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "faucet==$FAUCET_VERSION" >&2
"$venv/bin/python" -c "import faucet.faucet, os_ken.controller.controller" >&2
echo "faucet==$FAUCET_VERSION" > "$stamp"
echo "$venv"
