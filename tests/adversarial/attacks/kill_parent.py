# where: bottom
# Kills whatever process started it.
import os
import signal
os.kill(os.getppid(), signal.SIGKILL)
