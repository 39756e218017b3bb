#!/usr/bin/env bash
# Makes .venv-ryu: Ryu 4.34 (PyPI `ryu`, the last release; os-ken's ancestor), for its real
# ryu/app/simple_switch_13.py, which neither os-ken 4.x (.venv) nor the os-ken 3.1 Faucet pins
# (.venv-faucet) ships any more.  Idempotent and cached like tools/faucet_venv.sh; a fresh
# install takes about half a minute.
#
#   tools/ryu_venv.sh [VENV_DIR]           # default: .venv-ryu beside this tools/ folder
#
# Ryu 4.34 predates today's packaging: its setup hooks need setuptools < 58 (so it is built
# without build isolation).  Its `ryu-manager` also imports an eventlet name
# (wsgi.ALREADY_HANDLED) that eventlet >= 0.30.3 no longer has; run apps through
# tests/integration/ryu_launcher.py, which supplies it.  Prints the venv's directory.
set -euo pipefail

RYU_VERSION=${RYU_VERSION:-4.34}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$root/.venv-ryu}
stamp=$venv/.installed
python=${PYTHON:-python3}
want="ryu==$RYU_VERSION"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$venv"
    exit 0
fi

exec 9>"$root/.venv-ryu.lock"
flock 9
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$venv"
    exit 0
fi

rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" "setuptools<58" wheel pbr >&2
"${pip[@]}" --no-build-isolation "$want" >&2
"$venv/bin/python" -c "import eventlet.wsgi as w; w.ALREADY_HANDLED = object(); \
import ryu.app.simple_switch_13" >&2
echo "$want" > "$stamp"
echo "$venv"
