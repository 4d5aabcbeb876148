"""Positioned text: chunks (pdfium text runs or OCR words) grouped into segments and lines.

Both the PDF text layer and OCR give pieces of text with boxes. Grouping them the same way
lets one field extractor serve both: a *line* is everything at one height on the page, a
*segment* is a run of a line without a wide gap (one table cell, one column of a two-column
header). Line text joins segments with ``SEGMENT_GAP`` so that patterns never run across
columns (an amount never swallows the quantity in the cell before it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from backoffice.invoices.model import Box, Source

SEGMENT_GAP = "   "
# A horizontal gap wider than this many line heights starts a new segment: a space between
# words is about a third of the height, a table or column gap is well over one.
SEGMENT_GAP_HEIGHTS = 0.9
# Two chunks are on the same line when their vertical overlap is at least this share of the
# smaller height.
SAME_LINE_OVERLAP = 0.5
# Points two chunks of a line may overlap horizontally (kerning, a tight italic).
STACKED_TOLERANCE = 1.0


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
    return lines_of([(c.text, c.box, c.confidence) for c in chunks], page)


def lines_of(chunks: list[tuple[str, Box, float]], page: int) -> list[Line]:
    """``build_lines`` of (text, box, confidence) tuples: the PDF reader's hot path makes
    no Chunk objects, and the grouping works on plain tuples and floats."""
    chunks = [chunk for chunk in chunks if chunk[0].strip()]
    if not chunks:
        return []
    # Sorted by vertical centre (stable, as before).
    chunks.sort(key=lambda c: (c[1][1] + c[1][3]) / 2)
    rows: list[list[tuple[str, Box, float]]] = []
    tops: list[float] = []
    bottoms: list[float] = []
    for chunk in chunks:
        box = chunk[1]
        top, bottom = box[1], box[3]
        placed = False
        for index in range(len(rows) - 1, max(-1, len(rows) - 4), -1):
            row_top, row_bottom = tops[index], bottoms[index]
            # min()/max() of two values, written out: same values, no call per pair.
            overlap = (bottom if bottom < row_bottom else row_bottom) - (
                top if top > row_top else row_top
            )
            row_height, height = row_bottom - row_top, bottom - top
            smaller = (height if height < row_height else row_height) or 1.0
            if overlap / smaller >= SAME_LINE_OVERLAP:
                rows[index].append(chunk)
                if top < row_top:
                    tops[index] = top
                if bottom > row_bottom:
                    bottoms[index] = bottom
                placed = True
                break
        if not placed:
            rows.append([chunk])
            tops.append(top)
            bottoms.append(bottom)
    lines = []
    for row in _split_stacked(rows):
        height = _median([c[1][3] - c[1][1] for c in row]) or 1.0
        limit = SEGMENT_GAP_HEIGHTS * height
        groups: list[list[tuple[str, Box, float]]] = [[row[0]]]
        right = row[0][1][2]
        for chunk in row[1:]:
            if chunk[1][0] - right > limit:
                groups.append([chunk])
            else:
                groups[-1].append(chunk)
            right = chunk[1][2]
        lines.append(Line(segments=[_segment(group) for group in groups], page=page))
    return lines


def _split_stacked(rows: list[list[tuple[str, Box, float]]]) -> list[list[tuple[str, Box, float]]]:
    """Rows sorted left to right; a row with chunks on top of each other is split.

    A tall chunk (a heading, a logo word) overlaps two lines of smaller text beside it,
    and the row grown around it takes both ("Miejsce Data wystawienia: wystawienia:").
    Chunks of one line never share a horizontal stretch, so such a row is grouped again
    by the smaller lines' own heights, the tall chunk going with the first it overlaps.
    """
    result = []
    for row in rows:
        row.sort(key=lambda c: c[1][0])
        if all(b[1][0] >= a[1][2] - STACKED_TOLERANCE for a, b in pairwise(row)):
            result.append(row)
            continue
        row.sort(key=lambda c: c[1][3] - c[1][1])
        parts: list[list[tuple[str, Box, float]]] = []
        # Each part keeps the extent of its first (smallest) chunk.
        extents: list[tuple[float, float]] = []
        for chunk in row:
            top, bottom = chunk[1][1], chunk[1][3]
            for part, (part_top, part_bottom) in zip(parts, extents, strict=True):
                overlap = min(bottom, part_bottom) - max(top, part_top)
                if overlap >= SAME_LINE_OVERLAP * min(bottom - top, part_bottom - part_top):
                    part.append(chunk)
                    break
            else:
                parts.append([chunk])
                extents.append((top, bottom))
        parts.sort(key=lambda part: min(c[1][1] for c in part))
        for part in parts:
            part.sort(key=lambda c: c[1][0])
        result.extend(parts)
    return result


def _median(values: list[float]) -> float:
    # statistics.median, without its type dispatch.
    values.sort()
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def _segment(group: list[tuple[str, Box, float]]) -> Segment:
    if len(group) == 1:
        text, box, confidence = group[0]
        return Segment(" ".join(text.split()), box, confidence)
    return Segment(
        # The words of the chunks, one space between: what joining the stripped chunks
        # and normalising the spaces gave.
        " ".join(word for chunk in group for word in chunk[0].split()),
        (
            min(c[1][0] for c in group),
            min(c[1][1] for c in group),
            max(c[1][2] for c in group),
            max(c[1][3] for c in group),
        ),
        min(c[2] for c in group),
    )
