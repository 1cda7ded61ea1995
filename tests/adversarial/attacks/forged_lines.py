# where: top
# Writes fake grader messages on every open descriptor: progress, a perfect result, junk.
import json
import os
for fd in range(3, 64):
    for line in (json.dumps({"type": "progress", "step": 500, "loss": 0.0}),
                 json.dumps({"type": "done"}), "{not json}"):
        try:
            os.write(fd, line.encode() + b"\n")
        except OSError:
            pass
