# where: top
# Tries to reach a listener on the host and an outside address; prints what happened.
import socket
LISTENER_PORT = 0  # the test writes its listener's port here
for host, port in (("127.0.0.1", LISTENER_PORT), ("10.0.0.1", 80), ("1.1.1.1", 443)):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.sendall(b"stolen")
        print("CONNECTED", host)
    except OSError as exc:
        print("BLOCKED", host, type(exc).__name__)
    finally:
        s.close()
