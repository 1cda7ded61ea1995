# where: top
# Tries to change files outside its scratch space; prints which writes succeeded.
import os
TARGETS = ["/tmp/pwned", os.path.expanduser("~/pwned"), "/in/checkpoint", "/opt/autograder/child/main.py",
           "/usr/pwned", "/scratch/ok"]
HOST_PATHS = []  # the test adds the host paths of the checkpoint and the project tree
TARGETS += HOST_PATHS
wrote = []
for path in TARGETS:
    try:
        with open(path, "ab") as f:
            f.write(b"pwned")
        wrote.append(path)
    except OSError:
        pass
print("WROTE", wrote)
