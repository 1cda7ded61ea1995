# where: top
# Writes 100 MB to stdout and 100 MB to stderr, then behaves.
import sys
for _ in range(100):
    sys.stdout.write("x" * (1 << 20))
    sys.stderr.write("y" * (1 << 20))
