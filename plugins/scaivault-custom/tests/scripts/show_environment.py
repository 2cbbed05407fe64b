"""Answers create with its environment and arguments, to show what a command is given."""

import json
import os
import sys

doc = json.load(sys.stdin)
print(
    json.dumps(
        {
            "username": doc["name"],
            "password": doc["password"],
            "environment": dict(os.environ),
            "argv": sys.argv[1:],
            "cwd": os.getcwd(),
        }
    )
)
