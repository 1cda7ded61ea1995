"""Similarity report: which submissions share more than a threshold of what students wrote.

Pure logic (no web, database or torch imports): `compare` takes sources and returns a
`SimilarityReport` that the TA dashboard renders. Layout: `tokens` normalizes source,
`winnow` fingerprints it, `report` compares, `known` reads a TA's folder of known sources.
"""
from similarity.known import KnownFolder, load_known_folder, scan_known_folder
from similarity.report import (Cluster, FileSummary, LineRange, SimilarityReport, SimilarPair, SimilaritySettings,
                               compare)

__all__ = ["Cluster", "FileSummary", "KnownFolder", "LineRange", "SimilarPair", "SimilarityReport",
           "SimilaritySettings", "compare", "load_known_folder", "scan_known_folder"]
