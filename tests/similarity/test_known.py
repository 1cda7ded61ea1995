"""similarity.known: a TA's folder of known sources, read defensively."""
from __future__ import annotations

from pathlib import Path

from similarity import load_known_folder, scan_known_folder


def test_reads_py_files_recursively_and_skips_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "github").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "github" / "b.py").write_text("y = 2  # é\n", encoding="utf-8")
    (tmp_path / "latin1.py").write_bytes("z = 'é'\n".encode("latin-1"))
    (tmp_path / "blob.py").write_bytes(b"\x00\x01\x02")
    (tmp_path / "big.py").write_text("# " + "x" * 2_000 + "\n")
    (tmp_path / "notes.txt").write_text("not python")
    (tmp_path / "link.py").symlink_to(tmp_path / "a.py")
    folder = scan_known_folder(tmp_path, max_bytes=1_000)
    assert folder.sources == {"a.py": "x = 1\n", "github/b.py": "y = 2  # é\n"}
    reasons = {s.name: s.reason for s in folder.skipped}
    assert set(reasons) == {"latin1.py", "blob.py", "big.py", "link.py"}
    assert "UTF-8" in reasons["latin1.py"] and "cap" in reasons["big.py"] and "binary" in reasons["blob.py"]
    assert load_known_folder(tmp_path, max_bytes=1_000) == folder.sources


def test_a_missing_folder_is_an_empty_result_with_a_note(tmp_path: Path) -> None:
    folder = scan_known_folder(tmp_path / "nope")
    assert folder.sources == {} and folder.skipped[0].reason == "not a folder"
    assert load_known_folder(tmp_path / "nope") == {}
