"""Pairs and clusters of submissions that share more than a threshold of what students wrote.

`compare` is the whole engine: normalize every file (`similarity.tokens`), fingerprint it
(`similarity.winnow`), then

1. **exclude** every k-gram of the `exclude` sources (the course skeleton, and the reference
   solution, which holds the skeleton's text and every blank's correct answer). All their
   k-grams, not only their winnowed ones: winnowing picks different positions in different
   surroundings, so a student's chosen fingerprint inside a reference passage need not be
   one the reference itself chose, but it is always one of the reference's k-grams. What is
   left is what the student wrote beyond the answer, which is what copying is about; two
   correct solutions are not alike just for being correct.
2. drop **common** fingerprints: one held by more than `common_fraction` of the submissions
   (once there are at least `common_min_files`) is an idiom of this class (`super().__init__()`
   written the modern way, the usual loop over blocks), not evidence. MOSS does the same.
   The flip side: if most of a class copied one source, that source's text is dropped too
   (against `known` sources as well); `common_fraction=1.0` switches the filter off.
3. score each pair that shares a fingerprint, found through an inverted index (fingerprint
   → files), so the work grows with what files share, not with the number of pairs:
   `score = shared / min(|A|, |B|)` over distinct fingerprints left after steps 1-2. The
   min (JPlag's "max similarity") flags a short file wholly contained in a longer one.
4. flag a pair when all of these hold:
   - `score >= threshold`: most of the smaller file's own text is in the other;
   - `shared >= min_shared`: a score of 1.0 over three fingerprints is one shared mistake,
     not a copied file;
   - and the sharing is not explained by idioms: either the two files are nearly one
     (`overlap`, the Jaccard index shared / |A ∪ B|, `>= overlap`), or at least
     `min_distinctive` of the shared fingerprints are distinctive: held by no more than
     `distinctive_fraction` of the submissions (at least 3, so in a class under 150 a
     passage held by at most three files): copied comments, an identical unusual mistake.
   Why the third condition: the min in the score means a file whose only own code is two
   popular idioms (`super().__init__()`, a loop over blocks) is "contained" in every file
   that uses both. On bench/similarity.py's generated class of 500 that gave over 2 000 false
   flags at threshold 0.5; with it, a handful (and the planted copies are still found).
   A file with fewer than `min_fingerprints` left (an untouched skeleton, the reference
   itself) is never flagged: there is nothing of its own to have copied.
5. clusters are the connected components of the flagged pairs (union-find), so a ring of
   five students who passed one file along shows as one group.

Known sources (a TA's folder of files found online) go through the same steps and are
compared with every submission; known-vs-known pairs are not reported.
Nothing here imports web or database code: the dashboard renders a `SimilarityReport`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

from similarity.tokens import TokenStream, normalize
from similarity.winnow import DEFAULT_K, DEFAULT_W, Fingerprint, fingerprints, kgram_hashes

DEFAULT_THRESHOLD = 0.6
_NO_KNOWN: Mapping[str, str] = MappingProxyType({})


class SimilaritySettings(BaseModel):
    """Every knob of a comparison; the report carries the ones it was made with."""

    model_config = ConfigDict(frozen=True)

    k: int = Field(DEFAULT_K, ge=1, description="tokens per k-gram (noise threshold)")
    w: int = Field(DEFAULT_W, ge=1, description="winnowing window, in k-grams")
    threshold: float = Field(DEFAULT_THRESHOLD, ge=0.0, le=1.0, description="flag a pair from this score")
    min_shared: int = Field(10, ge=1, description="a flagged pair shares at least this many fingerprints")
    min_fingerprints: int = Field(10, ge=1, description="a file with fewer left after exclusion is never flagged")
    overlap: float = Field(0.7, ge=0.0, le=1.0,
                           description="flag if the shared part is this much of both files together (Jaccard)...")
    min_distinctive: int = Field(10, ge=1, description="...or if this many shared fingerprints are distinctive")
    distinctive_fraction: float = Field(0.02, ge=0.0, le=1.0,
                                        description="distinctive: held by at most this fraction of the submissions (or 3)")
    common_fraction: float = Field(0.5, gt=0.0, le=1.0, description="drop fingerprints held by more of the submissions")
    common_min_files: int = Field(10, ge=2, description="the common filter applies from this many submissions")


class LineRange(BaseModel):
    """Lines `start`..`end` (1-based, inclusive) of one file."""

    start: int
    end: int


class FileSummary(BaseModel):
    """What one file contributed, so a TA can see why a file was (not) compared."""

    name: str
    known: bool = False
    tokens: int
    fingerprints: int = Field(description="winnowed fingerprints before exclusion (with repeats)")
    kept: int = Field(description="distinct fingerprints left after exclusion and the common filter")
    excluded: int = Field(description="distinct fingerprints removed as skeleton/reference text")
    common: int = Field(description="distinct fingerprints removed as common to the class")
    eligible: bool = Field(description="enough of its own left to be flagged")
    note: str | None = Field(None, description="why the file was only partly read, if it was")


class SimilarPair(BaseModel):
    """One flagged pair, with the shared regions of each side for a side-by-side view.

    `a` is always a submission; `b` is a submission (`b_known` false) or a known source.
    """

    a: str
    b: str
    b_known: bool = False
    score: float = Field(description="shared / min(a_kept, b_kept): how much of the smaller file is in the other")
    overlap: float = Field(description="shared / |a ∪ b| (Jaccard): how much the two files are one")
    shared: int
    distinctive: int = Field(description="shared fingerprints that few submissions hold")
    a_kept: int
    b_kept: int
    a_ranges: list[LineRange]
    b_ranges: list[LineRange]


class Cluster(BaseModel):
    """A connected group of flagged pairs."""

    submissions: list[str]
    known: list[str]
    pairs: int
    max_score: float


class SimilarityReport(BaseModel):
    """The result of `compare`: flagged pairs (highest score first), clusters, and per-file notes."""

    settings: SimilaritySettings
    files: list[FileSummary]
    pairs: list[SimilarPair]
    clusters: list[Cluster]
    excluded_sources: int
    excluded_hashes: int
    common_hashes: int


@dataclass
class _Doc:
    name: str
    known: bool
    stream: TokenStream
    prints: list[Fingerprint]
    kept: frozenset[int] = frozenset()
    excluded: int = 0
    common: int = 0


def compare(files: Mapping[str, str], *, exclude: Sequence[str] = (), known: Mapping[str, str] = _NO_KNOWN,
            threshold: float | None = None, settings: SimilaritySettings | None = None,
            tokenizer: Callable[[str], TokenStream] = normalize) -> SimilarityReport:
    """The similarity report of `files` (name → source), optionally against `known` sources.

    `exclude` holds the sources whose text no one is blamed for sharing (skeleton, reference
    solution). `threshold`, when given, overrides `settings.threshold`. Deterministic: the
    same inputs give the same report whatever the mappings' order. Never raises on a bad
    file: it is read as far as it lexes and its `note` says so. `tokenizer` turns a source into
    the token stream fingerprinted: Python tokens by default, words for prose (similarity.text).
    """
    cfg = settings or SimilaritySettings()
    if threshold is not None:
        cfg = cfg.model_copy(update={"threshold": SimilaritySettings(threshold=threshold).threshold})
    docs = [_doc(name, files[name], False, cfg, tokenizer) for name in sorted(files)]
    docs += [_doc(name, known[name], True, cfg, tokenizer) for name in sorted(known)]

    excluded: set[int] = set()
    for source in exclude:
        excluded.update(kgram_hashes(tokenizer(source).texts, cfg.k))

    distinct = [frozenset(fp.hash for fp in doc.prints) for doc in docs]
    frequency: dict[int, int] = defaultdict(int)
    for doc, hashes in zip(docs, distinct):
        if not doc.known:
            for h in hashes - excluded:
                frequency[h] += 1
    n_submissions = len(files)
    common: set[int] = set()
    if n_submissions >= cfg.common_min_files:
        limit = cfg.common_fraction * n_submissions
        common = {h for h, n in frequency.items() if n > limit}

    index: dict[int, list[int]] = defaultdict(list)
    for i, (doc, hashes) in enumerate(zip(docs, distinct)):
        own = hashes - excluded
        doc.excluded = len(hashes) - len(own)
        doc.kept = frozenset(own - common)
        doc.common = len(own) - len(doc.kept)
        if len(doc.kept) >= cfg.min_fingerprints:
            for h in doc.kept:
                index[h].append(i)

    distinctive_max = max(3, int(cfg.distinctive_fraction * n_submissions))
    shared: dict[tuple[int, int], int] = defaultdict(int)
    distinctive: dict[tuple[int, int], int] = defaultdict(int)
    for h, postings in index.items():
        if len(postings) > 1:
            rare = frequency[h] <= distinctive_max
            for i, j in combinations(postings, 2):  # postings ascend: submissions before known
                if not docs[i].known:
                    shared[i, j] += 1
                    if rare:
                        distinctive[i, j] += 1

    pairs: list[SimilarPair] = []
    for (i, j), n in shared.items():
        if n < cfg.min_shared:
            continue
        a, b = docs[i], docs[j]
        score = n / min(len(a.kept), len(b.kept))
        overlap = n / (len(a.kept) + len(b.kept) - n)
        if score >= cfg.threshold and (overlap >= cfg.overlap or distinctive[i, j] >= cfg.min_distinctive):
            pairs.append(_pair(a, b, score=score, overlap=overlap, shared=n, distinctive=distinctive[i, j]))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b_known, p.b))

    return SimilarityReport(
        settings=cfg, files=[_summary(doc, cfg) for doc in docs], pairs=pairs, clusters=_clusters(pairs),
        excluded_sources=len(exclude), excluded_hashes=len(excluded), common_hashes=len(common))


def _doc(name: str, source: str, known: bool, cfg: SimilaritySettings,
         tokenizer: Callable[[str], TokenStream] = normalize) -> _Doc:
    stream = tokenizer(source)
    return _Doc(name, known, stream, fingerprints(stream, k=cfg.k, w=cfg.w))


def _summary(doc: _Doc, cfg: SimilaritySettings) -> FileSummary:
    return FileSummary(name=doc.name, known=doc.known, tokens=len(doc.stream), fingerprints=len(doc.prints),
                       kept=len(doc.kept), excluded=doc.excluded, common=doc.common,
                       eligible=len(doc.kept) >= cfg.min_fingerprints, note=doc.stream.reason)


def _pair(a: _Doc, b: _Doc, *, score: float, overlap: float, shared: int, distinctive: int) -> SimilarPair:
    both = a.kept & b.kept
    return SimilarPair(a=a.name, b=b.name, b_known=b.known, score=round(score, 4), overlap=round(overlap, 4),
                       shared=shared, distinctive=distinctive,
                       a_kept=len(a.kept), b_kept=len(b.kept),
                       a_ranges=shared_ranges(a.prints, both), b_ranges=shared_ranges(b.prints, both))


def shared_ranges(prints: Sequence[Fingerprint], hashes: frozenset[int] | set[int]) -> list[LineRange]:
    """The line spans of the fingerprints whose hash is in `hashes`, merged when they touch."""
    spans = sorted((fp.first_line, fp.last_line) for fp in prints if fp.hash in hashes)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [LineRange(start=s, end=e) for s, e in merged]


def _clusters(pairs: Sequence[SimilarPair]) -> list[Cluster]:
    """Connected components of the flagged pairs, largest first."""
    parent: dict[tuple[bool, str], tuple[bool, str]] = {}

    def find(x: tuple[bool, str]) -> tuple[bool, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        ra, rb = find((False, p.a)), find((p.b_known, p.b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[tuple[bool, str], list[tuple[bool, str]]] = defaultdict(list)
    for member in list(parent):
        groups[find(member)].append(member)
    stats: dict[tuple[bool, str], list[float]] = defaultdict(list)
    for p in pairs:
        stats[find((False, p.a))].append(p.score)
    clusters = [Cluster(submissions=sorted(n for is_known, n in members if not is_known),
                        known=sorted(n for is_known, n in members if is_known),
                        pairs=len(stats[root]), max_score=max(stats[root]))
                for root, members in groups.items()]
    clusters.sort(key=lambda c: (-(len(c.submissions) + len(c.known)), -c.max_score, c.submissions))
    return clusters
