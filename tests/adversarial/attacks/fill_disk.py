# where: top
# Writes up to TOTAL bytes, in files of 256 MiB (the per-file limit), into every place a sandbox
# may write, each until it is full; prints what it wrote and the free space it saw. RAISE: let
# the first "no space" error end the import instead of carrying on; CLEAN: remove the files after
# (the fine-tune that follows needs a temporary folder).
import os

TOTAL = 4 << 30
RAISE = False
CLEAN = False
_FILE, _CHUNK = 256 << 20, 1 << 20
_places = ["/scratch", "/tmp", "/dev/shm", "/dev", os.path.expanduser("~")]
_free = {}
for _place in _places:  # the free space of each place it may write to
    try:
        if os.access(_place, os.W_OK):
            _st = os.statvfs(_place)
            _free[_place] = _st.f_bavail * _st.f_frsize
    except OSError:
        pass
_block = os.urandom(_CHUNK)  # not zeros: nothing may store them sparsely
_files, _written = [], 0
for _place in dict.fromkeys(os.path.realpath(p) for p in _places):
    while _written < TOTAL:
        _path = os.path.join(_place, f"fill{len(_files)}")
        try:
            with open(_path, "wb") as _f:
                _files.append(_path)
                for _ in range(_FILE // _CHUNK):
                    _f.write(_block)
                    _written += _CHUNK
        except OSError:
            if RAISE:
                raise
            break
_on_disk = sum(os.path.getsize(p) for p in _files if os.path.exists(p))
print("FILLED", _on_disk)
for _path in _files if CLEAN else []:
    os.remove(_path)
print("FREE", _free)
