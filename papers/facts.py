"""What the parser child may say about a PDF, as pydantic models: the trusted side's contract.

The child (papers/extract.py) ran PDFium on untrusted bytes, so its messages are untrusted too:
each is validated here against the caps an honest child keeps (pages, characters, boxes,
coordinates, PNG size) and a message past them is refused, not trimmed, because only a
subverted child sends one. Nothing is unpickled; the lines were parsed as JSON with depth and
finite-number checks (grader/sandbox.py parse_line) before they get here.
"""
from __future__ import annotations

import base64
import binascii
import struct
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from papers import extract

Coord = Annotated[float, Field(ge=-extract.COORD_LIMIT, le=extract.COORD_LIMIT, allow_inf_nan=False)]
Line = Annotated[list[Coord], Field(min_length=5, max_length=5)]  # x0, y0, x1, y1, font size
MAX_PREVIEW_BYTES = 2 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PAGE_COUNT = 10_000_000  # PDFium's own answer for a page tree; past it the child is lying


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Refused(_Message):
    """PDFium would not open the file: a password, or not a PDF it can read."""
    type: Literal["refused"]
    reason: Literal["encrypted", "malformed"]


class Document(_Message):
    type: Literal["document"]
    pages: int = Field(ge=0, le=MAX_PAGE_COUNT)


class PageFailed(_Message):
    type: Literal["page_failed"]
    index: int = Field(ge=0, lt=extract.MAX_PAGES)


class Page(_Message):
    """One page's facts; also what the pure checks take (tests build them directly)."""
    type: Literal["page"] = "page"
    index: int = Field(ge=0, lt=extract.MAX_PAGES)
    width: float = Field(gt=0, le=extract.COORD_LIMIT, allow_inf_nan=False)  # points
    height: float = Field(gt=0, le=extract.COORD_LIMIT, allow_inf_nan=False)
    chars: int = Field(ge=0, le=1 << 31)  # on the page (text holds at most MAX_PAGE_CHARS of them)
    text: str = Field(max_length=extract.MAX_PAGE_CHARS)
    lines: list[Line] = Field(default_factory=list, max_length=extract.MAX_LINES)
    images: int = Field(ge=0, le=extract.MAX_OBJECTS)
    forms: int = Field(ge=0, le=extract.MAX_OBJECTS)

    @field_validator("text")
    @classmethod
    def _newlines(cls, value: str) -> str:
        """PDFium ends lines with CRLF; the checks' patterns read lines ending in LF."""
        return value.replace("\r\n", "\n").replace("\r", "\n")


class Preview(_Message):
    type: Literal["preview"]
    index: int = Field(ge=0, lt=extract.PREVIEW_PAGES)
    png: str = Field(max_length=(MAX_PREVIEW_BYTES * 4) // 3 + 4)

    @field_validator("png")
    @classmethod
    def _is_small_png(cls, value: str) -> str:
        png_bytes(value)
        return value


def png_bytes(b64: str) -> bytes:
    """The PNG a preview carries, after checking it is one (signature, IHDR first) no larger
    than the child may make (PREVIEW_MAX pixels, MAX_PREVIEW_BYTES); ValueError otherwise.
    Only the header is read: the image is never decoded on the trusted side."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("preview is not base64") from None
    if len(data) > MAX_PREVIEW_BYTES or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("preview is not a PNG of the accepted size")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= extract.PREVIEW_MAX[0] and 0 < height <= extract.PREVIEW_MAX[1]):
        raise ValueError(f"preview is {width}x{height} pixels, larger than the child makes")
    return data


class Facts(BaseModel):
    """The validated facts of one PDF: its page count and its first pages (at most MAX_PAGES)."""
    model_config = ConfigDict(extra="forbid")
    page_count: int = Field(ge=0, le=MAX_PAGE_COUNT)
    pages: list[Page] = Field(default_factory=list, max_length=extract.MAX_PAGES)
    failed_pages: list[int] = Field(default_factory=list, max_length=extract.MAX_PAGES)
    previews: list[bytes] = Field(default_factory=list, max_length=extract.PREVIEW_PAGES)

    @property
    def text(self) -> str:
        """All pages' text, in page order, one blank line between pages."""
        return "\n\n".join(page.text for page in self.pages)


MESSAGES: dict[str, type[_Message]] = {"refused": Refused, "document": Document, "page": Page,
                                       "page_failed": PageFailed, "preview": Preview}
