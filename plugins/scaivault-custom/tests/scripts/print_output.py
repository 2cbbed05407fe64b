"""Prints argv[1] verbatim on stdout (after reading stdin), then exits 0: for output-format errors."""

import json
import sys

doc = json.load(sys.stdin)
print(sys.argv[1].replace("PASSWORD", doc.get("password") or ""))
