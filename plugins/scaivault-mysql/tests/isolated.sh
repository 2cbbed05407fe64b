#!/bin/sh
# This plugin's tests in a fresh virtualenv holding only the core, this plugin and its test extras:
# proof that the plugin needs nothing else. Needs network access to the package index.
#   sh plugins/scaivault-<name>/tests/isolated.sh [pytest args]
set -eu
plugin=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$plugin/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check -e "$repo" -e "$plugin[test]"
echo "installed: $("$work/venv/bin/pip" list --format=freeze --disable-pip-version-check | grep -i '^scaivault' | tr '\n' ' ')"
cd "$repo"
unset SCAIVAULT_LOAD_PLUGINS
"$work/venv/bin/python" -m pytest "$plugin/tests" -q "$@"
