# where: bottom
# Starts ten thousand sleeping threads after the model is defined.
import threading
import time
for _ in range(10000):
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
