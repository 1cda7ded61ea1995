# where: top
# Looks for anything outside its own fork (grader/forkserver.py): other processes, /proc,
# capabilities, open file descriptors, what an earlier grade left, an earlier grade's source.
import ctypes
import gc
import os
import sys

MARK = "no-mark"  # the test sets one per grade
libc = ctypes.CDLL(None, use_errno=True)


def exists(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


caps = (Data * 2)()
libc.capget(ctypes.byref(Header(0x20080522, 0)), caps)
print("PID", os.getpid())
print("REACH", [p for p in range(1, 4096) if exists(p)])
print("PROC", sorted(os.listdir("/proc")))
print("UMOUNT", libc.umount2(b"/proc", 2))
attached = libc.ptrace(16, 1, None, None)  # PTRACE_ATTACH to its namespace's init
print("PTRACE", attached)
if attached == 0:
    libc.ptrace(17, 1, None, None)  # PTRACE_DETACH
print("CAPS", [caps[0].effective, caps[0].permitted, caps[1].effective, caps[1].permitted])
fds = []
for fd in range(3, 1024):
    try:
        os.fstat(fd)
        fds.append(fd)
    except OSError:
        pass
print("FDS", fds)
print("SEEN", {d: sorted(os.listdir(d)) for d in ("/tmp", "/scratch", "/dev/shm", "/submission")})
found = []
needle = ("fork-probe" + "-mark-").encode()  # made here: not a constant of this file
for obj in gc.get_objects():  # the strings every container in this process holds
    if obj is found:
        continue
    items = list(obj.keys()) + list(obj.values()) if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    for item in items:
        data = item.encode(errors="replace") if isinstance(item, str) else item if isinstance(item, bytes) else b""
        if needle in data and data != needle and MARK.encode() not in data:
            found.append(data[:80].decode(errors="replace"))
print("OTHERS", sorted(set(found))[:5])
print("DEV", sorted(n for n in os.listdir("/dev") if n.startswith("left-by-")))
for d in ("/tmp", "/scratch", "/dev/shm", "/dev"):
    try:
        with open(os.path.join(d, "left-by-" + MARK), "w") as f:
            f.write(MARK)
    except OSError:
        pass
with open("/dev/null", "w") as f:  # a read-only /dev still takes writes to its devices
    f.write(MARK)
