#!/usr/bin/env bash
# The test command (README, CONTRIBUTING.md): CI (.ci/run) runs exactly this. Arguments go
# to pytest.
#
# 1. Installs the system packages some tests need, when they are missing and this can (root, or
#    password-less sudo, with apt-get): chromium (the status page in a browser), redis-server and
#    iproute2 (hosts in network namespaces of their own).
#    The suite itself never installs anything; without them those tests are skipped, saying why.
# 2. Creates .venv, installs the package with its test extras at the versions pinned in
#    constraints.txt (the Docker image installs from the same file), and runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if ((${#missing[@]})); then
    sudo=()
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    fi
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || ((${#sudo[@]})); }; then
        echo "test.sh: installing ${missing[*]} with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        if ! { "${sudo[@]}" apt-get update -qq &&
            "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null; }; then
            echo "test.sh: could not install ${missing[*]}; the tests that need them are skipped" >&2
        fi
    else
        echo "test.sh: ${missing[*]} missing (needs root or sudo with apt-get to install);" \
            "the tests that need them are skipped" >&2
    fi
fi

python3 -m venv .venv
export PIP_ROOT_USER_ACTION=ignore  # CI runs as root
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
# One worker per core: the suite is CPU-bound (every test starts a gateway and a fake upstream).
exec .venv/bin/python -m pytest -n auto "$@"
