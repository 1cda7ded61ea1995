# where: top
# Sends one result line far over the size the grader reads.
import os
# Every descriptor it holds (the channel's number is the grader's own, any number).
for fd in sorted(int(n) for n in os.listdir("/proc/self/fd") if int(n) > 2):
    try:
        os.write(fd, b'{"type": "done", "x": "' + b"a" * (9 << 20) + b'"}\n')
    except OSError:
        pass
