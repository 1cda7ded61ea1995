# where: bottom
# Kills its whole process group (kill(0)): in a fork of a fork server, that must not be the server's.
import os
import signal
os.kill(0, signal.SIGKILL)
