#!/bin/sh
# Does nothing and succeeds: a revoke command for roles whose creation is what a test is about.
cat >/dev/null
