"""similarity.winnow: stable hashes, the winnowing guarantees, line spans."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from similarity.tokens import normalize
from similarity.winnow import fingerprints, kgram_hashes, winnow

REPO = Path(__file__).resolve().parents[2]


def test_hashes_do_not_depend_on_the_process_hash_seed() -> None:
    code = "from similarity.winnow import kgram_hashes; print(kgram_hashes(list('abcdefghijklmnop'), 12))"
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"  # another seed than this process's
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": seed}).stdout
    assert out.strip() == str(kgram_hashes(list("abcdefghijklmnop"), 12))


def test_a_shared_run_of_k_plus_w_minus_1_tokens_always_gives_a_shared_fingerprint() -> None:
    rng = random.Random(0)
    k, w = 12, 8
    for _ in range(200):
        run = [f"t{rng.randrange(50)}" for _ in range(k + w - 1)]
        a = [f"a{rng.randrange(50)}" for _ in range(rng.randrange(40))] + run + [f"a{rng.randrange(9)}" for _ in range(7)]
        b = [f"b{rng.randrange(50)}" for _ in range(rng.randrange(40))] + run + [f"b{rng.randrange(9)}" for _ in range(3)]
        ha, hb = kgram_hashes(a, k), kgram_hashes(b, k)
        assert {ha[p] for p in winnow(ha, w)} & {hb[p] for p in winnow(hb, w)}


def test_a_shared_run_shorter_than_k_gives_nothing() -> None:
    a, b = ["x", "y"] * 5 + list("abcdefghijk"), ["z"] * 10 + list("abcdefghijk")
    assert not set(kgram_hashes(a, 12)) & set(kgram_hashes(b, 12))


def test_every_window_holds_a_chosen_position_and_positions_ascend() -> None:
    rng = random.Random(1)
    hashes = [rng.randrange(20) for _ in range(300)]  # many ties
    chosen = winnow(hashes, 8)
    assert chosen == sorted(set(chosen))
    for start in range(len(hashes) - 7):
        inside = [p for p in chosen if start <= p < start + 8]
        assert inside and min(hashes[p] for p in inside) == min(hashes[start:start + 8])


def test_robust_winnowing_keeps_one_fingerprint_for_a_run_of_equal_hashes() -> None:
    assert winnow([5] * 50, 8) == [7, 15, 23, 31, 39, 47]  # each pick kept while it is in the window
    assert winnow([3, 1, 2], 8) == [1] and winnow([], 8) == []


def test_fingerprints_carry_the_line_span_of_their_kgram() -> None:
    stream = normalize("a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\n")
    for fp in fingerprints(stream, k=5, w=2):
        assert fp.first_line == stream.lines[fp.position] and fp.last_line == stream.lines[fp.position + 4]
        assert 1 <= fp.first_line <= fp.last_line <= 6
