# where: top
# Leaves the interpreter at once, with no traceback and exit status 0.
import os
os._exit(0)
