#!/bin/sh
# A create command in plain sh, run directly (no shell in between): prints its arguments back.
cat >/dev/null
printf '{"username": "shell-user", "password": "from-a-shell-script", "args": "%s"}\n' "$*"
