# where: top
# Resolves a public name (the first step of sending data out).
import socket
socket.getaddrinfo("pypi.org", 443)
