"""Positioned text: chunks (pdfium text runs or OCR words) grouped into segments and lines.

Both the PDF text layer and OCR give pieces of text with boxes. Grouping them the same way
lets one field extractor serve both: a *line* is everything at one height on the page, a
*segment* is a run of a line without a wide gap (one table cell, one column of a two-column
header). Line text joins segments with ``SEGMENT_GAP`` so that patterns never run across
columns (an amount never swallows the quantity in the cell before it).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from backoffice.invoices.model import Box, Source

SEGMENT_GAP = "   "
# A horizontal gap wider than this many line heights starts a new segment: a space between
# words is about a third of the height, a table or column gap is well over one.
SEGMENT_GAP_HEIGHTS = 0.9
# Two chunks are on the same line when their vertical overlap is at least this share of the
# smaller height.
SAME_LINE_OVERLAP = 0.5


@dataclass(frozen=True)
class Chunk:
    """A piece of text with its box (origin top-left) and a 0..1 recognition confidence."""

    text: str
    box: Box
    confidence: float = 1.0


@dataclass
class Segment:
    """A run of chunks on one line without a wide gap."""

    text: str
    box: Box
    confidence: float


@dataclass
class Line:
    """All segments at one height, left to right; ``text`` joins them with SEGMENT_GAP."""

    segments: list[Segment]
    page: int
    text: str = ""
    offsets: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = []
        position = 0
        self.offsets = []
        for segment in self.segments:
            self.offsets.append(position)
            parts.append(segment.text)
            position += len(segment.text) + len(SEGMENT_GAP)
        self.text = SEGMENT_GAP.join(parts)

    @property
    def box(self) -> Box:
        """The box around all segments."""
        return _union([segment.box for segment in self.segments])

    def segment_at(self, offset: int) -> Segment:
        """The segment holding character ``offset`` of ``text``."""
        index = 0
        for i, start in enumerate(self.offsets):
            if start <= offset:
                index = i
        return self.segments[index]

    def confidence_at(self, start: int, end: int) -> float:
        """Lowest recognition confidence of the segments under ``text[start:end]``."""
        return (
            min(
                segment.confidence
                for segment, offset in zip(self.segments, self.offsets, strict=True)
                if offset < end and offset + len(segment.text) >= start
            )
            if self.segments
            else 1.0
        )


@dataclass
class PageText:
    """The text of one page as lines, and where it came from."""

    number: int
    source: Source
    lines: list[Line]
    width: float
    height: float

    @property
    def text(self) -> str:
        """Plain text, one line per line."""
        return "\n".join(line.text for line in self.lines)


def _union(boxes: list[Box]) -> Box:
    return (
        min(box[0] for box in boxes),
        min(box[1] for box in boxes),
        max(box[2] for box in boxes),
        max(box[3] for box in boxes),
    )


def build_lines(chunks: list[Chunk], page: int) -> list[Line]:
    """Group chunks into lines (top to bottom) of segments (left to right)."""
    chunks = [chunk for chunk in chunks if chunk.text.strip()]
    if not chunks:
        return []
    rows: list[list[Chunk]] = []
    row_boxes: list[Box] = []
    for chunk in sorted(chunks, key=lambda c: (c.box[1] + c.box[3]) / 2):
        placed = False
        for index in range(len(rows) - 1, max(-1, len(rows) - 4), -1):
            row_box = row_boxes[index]
            overlap = min(row_box[3], chunk.box[3]) - max(row_box[1], chunk.box[1])
            smaller = min(row_box[3] - row_box[1], chunk.box[3] - chunk.box[1]) or 1.0
            if overlap / smaller >= SAME_LINE_OVERLAP:
                rows[index].append(chunk)
                row_boxes[index] = _union([row_box, chunk.box])
                placed = True
                break
        if not placed:
            rows.append([chunk])
            row_boxes.append(chunk.box)
    lines = []
    for row in rows:
        row.sort(key=lambda c: c.box[0])
        height = statistics.median(c.box[3] - c.box[1] for c in row) or 1.0
        segments: list[list[Chunk]] = [[row[0]]]
        for chunk in row[1:]:
            gap = chunk.box[0] - segments[-1][-1].box[2]
            if gap > SEGMENT_GAP_HEIGHTS * height:
                segments.append([chunk])
            else:
                segments[-1].append(chunk)
        lines.append(
            Line(
                segments=[
                    Segment(
                        text=_join(group),
                        box=_union([c.box for c in group]),
                        confidence=min(c.confidence for c in group),
                    )
                    for group in segments
                ],
                page=page,
            )
        )
    return lines


def _join(chunks: list[Chunk]) -> str:
    text = ""
    for chunk in chunks:
        piece = chunk.text.strip()
        text = f"{text} {piece}" if text else piece
    return " ".join(text.split())
