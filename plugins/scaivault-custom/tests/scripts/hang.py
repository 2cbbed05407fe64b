"""Starts a child, records both pids in argv[1], says so on stderr, then hangs: the engine must kill both."""

import os
import subprocess
import sys
import time

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(sys.argv[1], "w") as out:
    out.write(f"{os.getpid()} {child.pid}")
print("started, now waiting forever", file=sys.stderr, flush=True)
time.sleep(300)
