#!/usr/bin/env bash
# ansible-test sanity on a copy of the tracked files laid out as ansible_collections/gpufabric/platform.
# ansible-test downloads a get-pip script on first use; a stand-in using ensurepip is pre-seeded so the
# run needs only the package index.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

# ansible-test skips its shellcheck test when the program is missing; a skipped test is not a passed one.
if ! command -v shellcheck >/dev/null; then
  echo "[sanity] installing shellcheck with apt-get (for ansible-test's shellcheck test)"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get install -y -qq shellcheck >/dev/null 2>&1 \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq shellcheck >/dev/null; }
fi

# ansible-core 2.19's ansible-test bootstraps pip 24.2 (get_venv_packages in python_requirements.py).
cache=~/.ansible/test/cache
mkdir -p "$cache"
[[ -f $cache/get_pip_24_2.py ]] || cp tests/sanity/get_pip_standin.py "$cache/get_pip_24_2.py"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/gpufabric/platform"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | (cd "$repo" && xargs -0 cp --parents -t "$dest")
cd "$dest"
git init -q && git add -A  # ansible-test reads the file list from git
echo "[sanity] ansible-test sanity --venv --python 3.11 (a few minutes the first time: it builds one venv per test)"
ansible-test sanity --venv --python 3.11 --color no "$@"
