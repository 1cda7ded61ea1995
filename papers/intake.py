"""The upload route's check of a report before it is stored: cheap, trusted, header only.

It reads the length and the first bytes, nothing a PDF parser would: the real reading happens
later in the sandbox (papers/check.py). What it refuses, it refuses in words.
"""
from __future__ import annotations

MAX_BYTES = 10 << 20
HEADER_WINDOW = 1024  # PDF readers accept "%PDF-" anywhere in the first 1 KiB; so do we


def check_upload(data: bytes, filename: str, max_bytes: int = MAX_BYTES) -> str | None:
    """Why this upload cannot be a report PDF, in words; None when it may be one."""
    if not data:
        return "The file is empty."
    if len(data) > max_bytes:
        return (f"The file is {len(data) / (1 << 20):.1f} MiB; a report PDF must be at most "
                f"{max_bytes / (1 << 20):g} MiB (a 1-page report is usually well under 1 MiB).")
    if b"%PDF-" not in data[:HEADER_WINDOW]:
        named = f'"{filename}"' if filename else "The file"
        return f"{named} is not a PDF (it does not start with %PDF-); export the report as PDF and upload that."
    return None
