"""The SQLite write lock: writers on one host queue for their turn instead of sleeping."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from storage.db import write_lock

REPO = Path(__file__).resolve().parents[2]


def test_a_second_process_waits_for_the_sqlite_write_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'autograder.sqlite'}"
    other = ("import sys, time; from storage.db import write_lock\n"
             "print('ready', flush=True)\n"
             "with write_lock(sys.argv[1]): print(time.time(), flush=True)\n")
    with write_lock(url):
        proc = subprocess.Popen([sys.executable, "-c", other, url], cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # the other process is now blocked on the lock
        released = time.time()
    got = float(proc.stdout.readline())
    proc.wait(timeout=10)
    assert got >= released  # it entered only after this process let go
    assert (tmp_path / "autograder.sqlite.write-lock").exists()

