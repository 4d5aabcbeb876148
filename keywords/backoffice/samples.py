"""The bundled sample mailbox that ``make run`` processes on a fresh machine."""

from __future__ import annotations

import mailbox
from pathlib import Path

#: resources/samples/mailbox in the source tree.
SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples" / "mailbox"


def seed_maildir(maildir: Path, samples: Path = SAMPLES, *, force: bool = False) -> int:
    """Copy the sample .eml files into the Maildir once; return how many were added.

    A marker file remembers the seeding, so a second ``make run`` does not put the
    same mail back after intake moved it to *Processed*.
    """
    marker = Path(maildir) / ".seeded"
    if marker.exists() and not force:
        return 0
    Path(maildir).parent.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(maildir, factory=None, create=True)
    added = 0
    for path in sorted(samples.glob("*.eml")):
        box.add(path.read_bytes())
        added += 1
    marker.write_text(f"{added} sample messages\n", encoding="utf-8")
    return added
