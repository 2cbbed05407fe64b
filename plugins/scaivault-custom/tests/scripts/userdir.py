"""A stand-in target for the custom engine's tests: a directory holding a JSON file of users.

Reads the engine's JSON document on stdin and acts on $USERS_DIR/users.json under a lock, as an
operator's script would act on a real system. Exit status 75 when the directory is missing (the
target is unreachable), 1 when it refuses. ``--garbage`` creates the user, then prints non-JSON.
"""

import fcntl
import json
import os
import sys


def fail(message, status=1):
    print(message, file=sys.stderr)
    sys.exit(status)


doc = json.load(sys.stdin)
directory = os.environ.get("USERS_DIR", "")
if not os.path.isdir(directory):
    fail(f"user directory {directory} is unreachable", 75)
path = os.path.join(directory, "users.json")
with open(os.path.join(directory, "lock"), "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = {"admin_token": None, "users": {}}
    if os.path.exists(path):
        with open(path) as saved:
            state = json.load(saved)
    users = state["users"]
    root = doc.get("root_credentials")
    if state["admin_token"] and root is not None and root.get("admin_token") != state["admin_token"]:
        fail("userdir refused the given token")
    operation, name = doc["operation"], doc.get("name")
    if operation == "verify":
        if state["admin_token"] and root is None:
            fail("verify needs the given token")
        sys.exit(0)
    if operation == "create":
        if name in users:
            fail(f"user {name} exists")
        user_id = len(users) + 1
        users[name] = {
            "password": doc["password"],
            "expiration": doc["expiration"],
            "id": user_id,
            "ttl_seconds": doc["ttl_seconds"],
            "metadata": doc["metadata"],
            "lease_id": doc["lease_id"],
            "groups": sys.argv[1:],
            "saw_root": root is not None,
            "keys": sorted(doc),
        }
        output = {"username": name, "password": doc["password"], "groups": sys.argv[1:], "handle": {"user_id": user_id}}
    elif operation == "renew":
        if name not in users:
            fail(f"no user {name}")
        users[name]["expiration"] = doc["expiration"]
        users[name]["renew_handle"] = doc["handle"]
        output = {}
    elif operation == "revoke":
        users.pop(name, None)  # idempotent: a user already gone (or never made) is success
        state.setdefault("revoked", []).append({"name": name, "handle": doc["handle"], "keys": sorted(doc)})
        output = {}
    else:
        fail(f"unknown operation {operation}")
    with open(path + ".tmp", "w") as out:
        json.dump(state, out)
    os.replace(path + ".tmp", path)
if "--garbage" in sys.argv:
    print(f"created {name} with password {doc.get('password')}")
elif output:
    print(json.dumps(output))
