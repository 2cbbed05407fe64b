"""Fails the way careless scripts do: echoing the password and the root token to stderr, then exit 3."""

import json
import sys

doc = json.load(sys.stdin)
token = (doc.get("root_credentials") or {}).get("admin_token")
print(f"refusing {doc.get('name')}: password {doc.get('password')} rejected (given token {token})", file=sys.stderr)
print(json.dumps({"username": doc.get("name"), "password": doc.get("password")}))
sys.exit(3)
