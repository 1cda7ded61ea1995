# where: top
# Writes fake grader messages on every open descriptor: progress, a perfect result, junk.
import json
import os
# Every descriptor it holds (the channel's number is the grader's own, any number).
for fd in sorted(int(n) for n in os.listdir("/proc/self/fd") if int(n) > 2):
    for line in (json.dumps({"type": "progress", "step": 500, "loss": 0.0}),
                 json.dumps({"type": "done"}), "{not json}"):
        try:
            os.write(fd, line.encode() + b"\n")
        except OSError:
            pass
