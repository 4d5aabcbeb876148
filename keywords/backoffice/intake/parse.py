"""Raw email bytes to a safe, typed message with its attachments.

Everything a mailbox can hold is bad input sooner or later: broken MIME, unknown
charsets, file names such as ``../../etc/passwd``, decompression bombs. ``parse_message``
never raises on such input; each thing it meets becomes a :class:`Problem` with an
UPPER_SNAKE code and a sentence for staff, either on the attachment it concerns or, when
the message as a whole cannot be used, as ``ParsedMessage.fatal``.

Parsing uses the standard library's ``email`` package with ``email.policy.default`` (it
decodes RFC 2047 encoded-words and RFC 2231 parameters for us) and falls back to the
lenient ``compat32`` policy for headers that ``policy.default`` refuses to parse. Each
parse uses its own :class:`_ParsePolicy`, which is ``policy.default`` remembering the
header objects it built, so a header is parsed once per message, not once per read.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import mimetypes
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors as email_errors
from email import policy
from email.header import decode_header, make_header
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

# --- problem codes -------------------------------------------------------------------
ATTACHMENT_TOO_LARGE = "ATTACHMENT_TOO_LARGE"
UNSAFE_FILENAME = "UNSAFE_FILENAME"
ZIP_BOMB = "ZIP_BOMB"
ZIP_ENCRYPTED = "ZIP_ENCRYPTED"
ZIP_CORRUPT = "ZIP_CORRUPT"
ZIP_TOO_MANY_MEMBERS = "ZIP_TOO_MANY_MEMBERS"
UNKNOWN_CHARSET = "UNKNOWN_CHARSET"
BROKEN_MIME = "BROKEN_MIME"
BAD_DATE = "BAD_DATE"
MISSING_MESSAGE_ID = "MISSING_MESSAGE_ID"
EMPTY_MESSAGE = "EMPTY_MESSAGE"
MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
NOT_AN_EMAIL = "NOT_AN_EMAIL"
TOO_MANY_ATTACHMENTS = "TOO_MANY_ATTACHMENTS"
NESTING_TOO_DEEP = "NESTING_TOO_DEEP"

# --- tuning constants ------------------------------------------------------------------
#: Longest safe file name in characters (the extension is kept when shortening).
MAX_FILENAME_CHARS = 150
#: Longest safe file name in UTF-8 bytes: most file systems stop at 255 bytes, and 150
#: Cyrillic characters would already need 300.
MAX_FILENAME_BYTES = 240
#: Longest extension kept as such when a long name is shortened.
MAX_EXTENSION_CHARS = 16
#: Synthetic Message-IDs live in a reserved domain so they can never clash with real ones.
SYNTHETIC_ID_DOMAIN = "backoffice.invalid"
#: How much of the input is looked at to decide whether it is an email at all.
SNIFF_BYTES = 64 * 1024
#: Header block of an oversized message that is still read for the record.
MAX_HEADER_BLOCK_BYTES = 1_000_000
#: Chunk size when reading zip members: stop as soon as a limit is passed.
ZIP_READ_CHUNK = 64 * 1024
#: Members smaller than this are never called bombs: tiny text files of repeated
#: characters compress far beyond any sane ratio and hurt nobody.
ZIP_RATIO_MIN_BYTES = 1_000_000
#: Deepest multipart tree walked; the parser itself is recursive, real mail needs < 10.
MAX_MIME_DEPTH = 40
#: Most MIME-defect problems recorded for one message, so a broken mail stays readable.
MAX_DEFECT_PROBLEMS = 20
#: Zip "general purpose" flags: bit 0 = encrypted, bit 11 = names are UTF-8.
ZIP_FLAG_ENCRYPTED = 0x1
ZIP_FLAG_UTF8 = 0x800

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
ZIP_CONTENT_TYPES = frozenset(
    {"application/zip", "application/x-zip-compressed", "application/x-zip", "multipart/x-zip"}
)
#: Office documents, e-books and Java archives are zips inside; they are documents, not
#: archives to unpack.
ZIP_BASED_DOCUMENT_EXTENSIONS = frozenset(
    {".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".epub", ".jar", ".apk", ".xps"}
)
#: Inline parts of these text types are documents (e-invoices, statements), not the body.
TEXT_TYPES_AS_ATTACHMENTS = frozenset({"text/xml", "text/csv", "text/calendar"})
#: Extensions for fallback names; mimetypes' answers vary between platforms.
EXTENSION_BY_TYPE = {
    "application/pdf": ".pdf",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
    "application/octet-stream": ".bin",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/tiff": ".tif",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "message/rfc822": ".eml",
}
#: Content types guessed from the first bytes of unpacked zip members.
MAGIC_TYPES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", "application/zip"),
    (b"<?xml", "application/xml"),
)
#: Charset names seen in the wild that Python does not know under that name.
CHARSET_ALIASES = {
    "x-cp1250": "cp1250",
    "x-cp1251": "cp1251",
    "win-1250": "cp1250",
    "win-1251": "cp1251",
    "windows-1250-x": "cp1250",
    "x-mac-cyrillic": "mac_cyrillic",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "ks_c_5601-1987": "cp949",
}
#: Headers copied, decoded, into ``ParsedMessage.headers``.
SELECTED_HEADERS = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Return-Path",
    "Authentication-Results",
    "Content-Type",
    "X-Mailer",
    "Auto-Submitted",
)
#: At least one of these must be among the first header lines for the input to be mail.
MAIL_HEADER_NAMES = frozenset(
    {
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "received",
        "return-path",
        "delivered-to",
        "content-type",
        "sender",
        "reply-to",
    }
)
HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")
MSG_ID_TOKEN = re.compile(r"<[^<>\s]+>")
WINDOWS_RESERVED_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
WINDOWS_FORBIDDEN_CHARS = re.compile(r'[<>:"|?*]')
DEFECT_SENTENCES = {
    email_errors.NoBoundaryInMultipartDefect: "is multipart but declares no boundary",
    email_errors.StartBoundaryNotFoundDefect: "never contains its declared boundary",
    email_errors.CloseBoundaryNotFoundDefect: "is missing its closing boundary",
    email_errors.FirstHeaderLineIsContinuationDefect: "starts with a continuation line",
    email_errors.MisplacedEnvelopeHeaderDefect: "has a misplaced 'From ' envelope line",
    email_errors.MissingHeaderBodySeparatorDefect: "has a header line without a colon",
    email_errors.MultipartInvariantViolationDefect: "claims to be multipart but is not",
    email_errors.InvalidMultipartContentTransferEncodingDefect: (
        "is multipart with a content transfer encoding other than 7bit, 8bit or binary"
    ),
    email_errors.InvalidBase64PaddingDefect: "has base64 data with wrong padding",
    email_errors.InvalidBase64CharactersDefect: "has invalid characters in its base64 data",
    email_errors.InvalidBase64LengthDefect: "has base64 data of an impossible length",
}


@dataclass(frozen=True)
class Problem:
    """Something wrong with a message or one of its parts, for the record and for staff."""

    code: str
    message: str


@dataclass(frozen=True)
class Limits:
    """How much of a message is read and kept; see the same-named settings."""

    max_message_bytes: int = 50_000_000
    max_attachment_bytes: int = 25_000_000
    max_attachments: int = 100
    max_nesting: int = 3
    zip_max_members: int = 200
    zip_max_total_bytes: int = 200_000_000
    zip_max_ratio: int = 100

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """The limits configured on a :class:`backoffice.config.Settings`."""
        names = cls.__dataclass_fields__
        return cls(**{name: getattr(settings, name) for name in names})


@dataclass
class Attachment:
    """One file found in a message, a forwarded message or an archive."""

    part_path: str
    filename: str
    original_filename: str
    content_type: str
    data: bytes | None
    problem: Problem | None = None

    @property
    def kept(self) -> bool:
        """True when the bytes were kept (a warning problem may still be set)."""
        return self.data is not None

    @property
    def sha256(self) -> str:
        """Hex sha256 of the kept bytes, '' when not kept."""
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else ""


@dataclass
class ParsedMessage:
    """A message as far as it could be read. ``problems`` lists every non-fatal problem,
    including each attachment's own problem, so the record shows them all in one place."""

    message_id: str
    message_id_synthetic: bool
    sender: str = ""
    sender_name: str = ""
    recipients: list[str] = field(default_factory=list)
    subject: str = ""
    sent_at: datetime | None = None
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body_text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: Problem | None = None


class _HeaderClasses(HeaderRegistry):
    """``policy.default``'s header registry, building each header class once.

    The standard registry creates a fresh class (``type(...)``) for every header it
    parses, which costs as much as parsing a short header; the class depends only on the
    registered kind, so one per kind is kept (a few dozen at most).
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[type, type] = {}

    def __getitem__(self, name: str) -> type:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._classes.get(kind)
        if made is None:
            made = self._classes[kind] = super().__getitem__(name)
        return made


_HEADER_CLASSES = _HeaderClasses()


class _ParsePolicy(EmailPolicy):
    """``policy.default`` that builds each header object once per parse.

    ``policy.default`` parses a header with its (slow, pure Python) header registry every
    time the header is read, and reading a message reads each part's Content-Type a dozen
    times (the parser itself, then type, disposition, file name and charset checks); that
    was most of the parse time. The objects are the very ones ``policy.default`` returns,
    so values, decoding and defects are unchanged. One instance per parse keeps the memo
    as small and short-lived as the message.
    """

    def __init__(self) -> None:
        super().__init__(header_factory=_HEADER_CLASSES)
        object.__setattr__(self, "_memo", {})

    def header_fetch_parse(self, name: str, value: str) -> Any:
        """The header object for this raw value, built on first use."""
        if hasattr(value, "name"):
            return value
        key = (name, value)
        memo: dict[tuple[str, str], Any] = self._memo  # type: ignore[attr-defined]
        header = memo.get(key)
        if header is None:
            header = memo[key] = super().header_fetch_parse(name, value)
        return header


# --- public functions ------------------------------------------------------------------


def parse_message(raw: bytes, limits: Limits = Limits()) -> ParsedMessage:
    """Read raw RFC 5322 bytes into a :class:`ParsedMessage`; never raises on bad input.

    Empty input, input without a header block and input larger than
    ``limits.max_message_bytes`` come back with ``fatal`` set and no attachments (the
    headers of an oversized message are still read for the record). Anything that goes
    wrong inside becomes a ``BROKEN_MIME`` problem.
    """
    synthetic_id = f"<{hashlib.sha256(raw).hexdigest()}@{SYNTHETIC_ID_DOMAIN}>"
    if not raw.strip():
        return _fatal(
            synthetic_id,
            EMPTY_MESSAGE,
            f"The message is empty ({len(raw)} bytes, none but whitespace).",
        )
    if not _looks_like_email(raw):
        return _fatal(
            synthetic_id,
            NOT_AN_EMAIL,
            f"The input ({len(raw)} bytes, starting {raw[:16]!r}) has no email header block.",
        )
    try:
        if len(raw) > limits.max_message_bytes:
            parsed = _parse_headers_only(raw, synthetic_id)
            parsed.fatal = Problem(
                MESSAGE_TOO_LARGE,
                f"The message is {len(raw):,} bytes, more than the limit of "
                f"{limits.max_message_bytes:,} bytes; only its headers were read.",
            )
            return parsed
        return _MessageReader(raw, limits, synthetic_id).read()
    except Exception as exc:  # the contract is: bad input never raises
        return _fatal(
            synthetic_id,
            BROKEN_MIME,
            f"The message could not be parsed at all: {type(exc).__name__}: {exc}.",
        )


def dedupe_key(parsed: ParsedMessage) -> str:
    """sha256 hex over the Message-ID and the sorted sha256s of the kept attachments."""
    digests = sorted(a.sha256 for a in parsed.attachments if a.data is not None)
    text = parsed.message_id + "\n" + "\n".join(digests)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def thread_id(parsed: ParsedMessage) -> str:
    """Message-ID of the thread's first message: References[0], In-Reply-To or our own."""
    if parsed.references:
        return parsed.references[0]
    return parsed.in_reply_to or parsed.message_id


def safe_filename(name: str, fallback: str) -> str:
    """A file name safe to write anywhere: no directories, control or bidi characters,
    no leading dots, no Windows-reserved names or characters, at most
    ``MAX_FILENAME_CHARS`` characters (and ``MAX_FILENAME_BYTES`` UTF-8 bytes) with the
    extension kept. Returns ``fallback`` (itself made safe) when nothing usable is left.
    """
    cleaned = _clean_name(name)
    if cleaned:
        return cleaned
    return _clean_name(fallback) or "attachment"


# --- message reading ---------------------------------------------------------------------


class _MessageReader:
    """One parse: walks the MIME tree once, collecting attachments and problems."""

    def __init__(self, raw: bytes, limits: Limits, synthetic_id: str) -> None:
        self.raw = raw
        self.limits = limits
        self.synthetic_id = synthetic_id
        self.problems: list[Problem] = []
        self.attachments: list[Attachment] = []
        self.too_many_reported = False
        self.defects_reported = 0
        #: (id of part, defect class) already reported, so a defect is told once.
        self.reported: set[tuple[int, type]] = set()

    def read(self) -> ParsedMessage:
        msg = BytesParser(policy=_ParsePolicy()).parsebytes(self.raw.lstrip(b"\r\n"))
        parsed = _headers_to_parsed(msg, self.synthetic_id, self.problems)
        parsed.body_text = self._body_text(msg)
        self._report_defects(msg, "The message")
        for position, part in self._children(msg):
            self._walk(part, position, depth=0, mime_depth=1)
        if msg.get_content_maintype() != "multipart" and msg.get_content_type() != (
            "message/rfc822"
        ):
            self._single_part(msg)
        parsed.attachments = self.attachments
        parsed.problems = self.problems
        return parsed

    # --- structure ---------------------------------------------------------------------

    @staticmethod
    def _children(msg: Message) -> Iterator[tuple[str, Message]]:
        """Top-level parts numbered like IMAP sections (1, 2, 3...)."""
        if msg.get_content_maintype() == "multipart" and isinstance(msg.get_payload(), list):
            for index, part in enumerate(msg.get_payload(), start=1):
                yield str(index), part
        elif msg.get_content_type() == "message/rfc822":
            yield "1", msg

    def _single_part(self, msg: Message) -> None:
        """A message whose only part is a document (a scanner's mail, say)."""
        if _is_attachment(msg):
            self._take(msg, "1", depth=0)

    def _walk(self, part: Message, path: str, depth: int, mime_depth: int) -> None:
        """Collect attachments under ``part``; any error stays with this part."""
        try:
            self._report_defects(part, f"MIME part {path}")
            if mime_depth > MAX_MIME_DEPTH:
                self._problem(
                    BROKEN_MIME,
                    f"MIME part {path} is nested more than {MAX_MIME_DEPTH} levels deep "
                    "and was not read.",
                )
                return
            ctype = part.get_content_type()
            if ctype == "message/rfc822":
                self._forwarded(part, path, depth)
            elif part.get_content_maintype() == "multipart":
                payload = part.get_payload()
                if isinstance(payload, list):
                    for index, child in enumerate(payload, start=1):
                        self._walk(child, f"{path}.{index}", depth, mime_depth + 1)
            elif _is_attachment(part):
                self._take(part, path, depth)
        except Exception as exc:  # one bad part must not lose the others
            self._problem(
                BROKEN_MIME,
                f"MIME part {path} could not be read: {type(exc).__name__}: {exc}.",
            )

    def _forwarded(self, part: Message, path: str, depth: int) -> None:
        """Descend into an attached message; keep it whole when it holds no files."""
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if inner is None:
            self._problem(BROKEN_MIME, f"Forwarded message at MIME part {path} is empty.")
            return
        if depth + 1 > self.limits.max_nesting:
            self._add(
                Attachment(
                    path,
                    "forwarded.eml",
                    "",
                    "message/rfc822",
                    _message_bytes(inner),
                    Problem(
                        NESTING_TOO_DEEP,
                        f"Forwarded message at part {path} is nested more than "
                        f"{self.limits.max_nesting} levels deep; it was kept unopened.",
                    ),
                )
            )
            return
        before = len(self.attachments)
        children = list(self._children(inner))
        if children:
            for position, child in children:
                self._walk(child, f"{path}/{position}", depth + 1, mime_depth=1)
        elif _is_attachment(inner):
            self._take(inner, f"{path}/1", depth + 1)
        if len(self.attachments) == before:
            name = _part_filename(part, self.problems)
            self._add(
                Attachment(
                    path,
                    safe_filename(name, "forwarded.eml") if name else "forwarded.eml",
                    name,
                    "message/rfc822",
                    _message_bytes(inner),
                )
            )

    # --- attachments -------------------------------------------------------------------

    def _take(self, part: Message, path: str, depth: int) -> None:
        """Turn one leaf part into an attachment (or the members of a zip)."""
        ctype = part.get_content_type()
        original = _part_filename(part, self.problems)
        filename, warning = _name_and_warning(original, path, ctype)
        data = part.get_payload(decode=True)
        self._report_defects(part, f"MIME part {path}")  # decoding adds base64 defects
        if data is None:
            data = b""
        if len(data) > self.limits.max_attachment_bytes:
            if warning:
                self._problem(warning.code, warning.message)
            self._add(
                Attachment(
                    path,
                    filename,
                    original,
                    ctype,
                    None,
                    Problem(
                        ATTACHMENT_TOO_LARGE,
                        f"Attachment '{filename}' (part {path}) is {len(data):,} bytes, "
                        f"more than the limit of {self.limits.max_attachment_bytes:,}.",
                    ),
                )
            )
            return
        if _is_zip(filename, ctype, data):
            attachment = Attachment(path, filename, original, ctype, data, warning)
            _ZipUnpacker(self, _ZipBudget()).unpack(attachment, depth)
            return
        self._add(Attachment(path, filename, original, ctype, data, warning))

    def _add(self, attachment: Attachment) -> bool:
        """Append unless the message already holds ``max_attachments``; False when full."""
        if len(self.attachments) >= self.limits.max_attachments:
            if not self.too_many_reported:
                self.too_many_reported = True
                self._problem(
                    TOO_MANY_ATTACHMENTS,
                    f"The message holds more than {self.limits.max_attachments} attachments; "
                    f"'{attachment.filename}' (part {attachment.part_path}) and the rest "
                    "were not kept.",
                )
            return False
        self.attachments.append(attachment)
        if attachment.problem is not None:
            self.problems.append(attachment.problem)
        return True

    # --- body --------------------------------------------------------------------------

    def _body_text(self, msg: Message) -> str:
        """First text/plain body part, else the first HTML part as text."""
        plain, html_part = _find_body_parts(msg)
        for part, is_html in ((plain, False), (html_part, True)):
            if part is None:
                continue
            payload = part.get_payload(decode=True) or b""
            text = _decode_text(payload, part.get_content_charset(), "the body", self.problems)
            text = _html_to_text(text) if is_html else text
            if text.strip():
                return text.replace("\r\n", "\n").strip()
        return ""

    # --- problems ----------------------------------------------------------------------

    def _problem(self, code: str, message: str) -> None:
        self.problems.append(Problem(code, message))

    def _report_defects(self, part: Message, where: str) -> None:
        """MIME defects the parser met become BROKEN_MIME problems (once per kind)."""
        for defect in getattr(part, "defects", []):
            kind = type(defect)
            if (id(part), kind) in self.reported or self.defects_reported >= MAX_DEFECT_PROBLEMS:
                continue
            self.reported.add((id(part), kind))
            self.defects_reported += 1
            sentence = DEFECT_SENTENCES.get(kind, f"has a MIME defect ({kind.__name__})")
            self._problem(BROKEN_MIME, f"{where} {sentence}.")


@dataclass
class _ZipBudget:
    """Bytes and members already unpacked from one archive (shared with nested ones)."""

    members: int = 0
    total_bytes: int = 0
    exhausted: bool = False


class _ZipUnpacker:
    """Unpacks one zip attachment under the reader's limits."""

    def __init__(self, reader: _MessageReader, budget: _ZipBudget) -> None:
        self.reader = reader
        self.limits = reader.limits
        self.budget = budget

    def unpack(self, archive: Attachment, depth: int) -> None:
        """Add the members of ``archive`` (or the archive itself when it cannot be opened)."""
        assert archive.data is not None
        if depth + 1 > self.limits.max_nesting:
            archive.problem = Problem(
                NESTING_TOO_DEEP,
                f"Archive '{archive.filename}' (part {archive.part_path}) is nested more than "
                f"{self.limits.max_nesting} levels deep; it was kept unopened.",
            )
            self.reader._add(archive)
            return
        before = len(self.reader.attachments)
        try:
            with zipfile.ZipFile(io.BytesIO(archive.data)) as zf:
                infos = zf.infolist()
                for info in infos:
                    if self.budget.exhausted:
                        return
                    if info.is_dir():
                        continue
                    if self.budget.members >= self.limits.zip_max_members:
                        self.budget.exhausted = True
                        self.reader._problem(
                            ZIP_TOO_MANY_MEMBERS,
                            f"Archive '{archive.filename}' (part {archive.part_path}) holds "
                            f"more than {self.limits.zip_max_members} files; the rest were "
                            "not unpacked.",
                        )
                        return
                    self.budget.members += 1
                    if not self._member(zf, info, archive, depth):
                        return
            if archive.problem is not None:  # a warning about the archive's own name
                self.reader._problem(archive.problem.code, archive.problem.message)
            if len(self.reader.attachments) == before:  # an empty archive is kept as such
                self.reader._add(archive)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            archive.problem = Problem(
                ZIP_CORRUPT,
                f"Archive '{archive.filename}' (part {archive.part_path}) could not be opened "
                f"({exc}); it was kept as it is.",
            )
            self.reader._add(archive)

    def _member(
        self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Attachment, depth: int
    ) -> bool:
        """Read one member within the limits; False when no more may be added."""
        original = _zip_member_name(info)
        inner_path, traversal = _safe_member_path(original)
        path = f"{archive.part_path}/{inner_path}"
        basename = re.split(r"[\\/]", original.rstrip("/\\"))[-1]
        guessed = mimetypes.guess_type(basename)[0] or "application/octet-stream"
        fallback = f"member-{self.budget.members}{_extension_for(guessed)}"
        filename = safe_filename(basename, fallback)
        warning = None
        if traversal or (basename and filename != unicodedata.normalize("NFC", basename)):
            warning = Problem(
                UNSAFE_FILENAME,
                f"Archive member '{_printable(original)}' in '{archive.filename}' has an unsafe "
                f"name or path; it was saved as '{filename}'.",
            )
        where = f"Archive member '{filename}' (in '{archive.filename}', part {archive.part_path})"

        def refuse(code: str, message: str) -> bool:
            if warning:
                self.reader._problem(warning.code, warning.message)
            return self.reader._add(
                Attachment(path, filename, original, guessed, None, Problem(code, message))
            )

        if info.flag_bits & ZIP_FLAG_ENCRYPTED:
            return refuse(ZIP_ENCRYPTED, f"{where} is encrypted and was not unpacked.")
        declared_ratio = info.file_size / info.compress_size if info.compress_size else 0.0
        if info.file_size >= ZIP_RATIO_MIN_BYTES and declared_ratio > self.limits.zip_max_ratio:
            return refuse(
                ZIP_BOMB,
                f"{where} declares a compression ratio of {declared_ratio:,.0f}:1 "
                f"({info.file_size:,} bytes from {info.compress_size:,}), more than the "
                f"limit of {self.limits.zip_max_ratio}:1; it was not unpacked.",
            )
        if info.file_size > self.limits.max_attachment_bytes:
            return refuse(
                ATTACHMENT_TOO_LARGE,
                f"{where} declares {info.file_size:,} bytes, more than the limit of "
                f"{self.limits.max_attachment_bytes:,}; it was not unpacked.",
            )
        try:
            data, stop = self._read_bounded(zf, info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            return refuse(ZIP_CORRUPT, f"{where} could not be unpacked ({exc}).")
        except NotImplementedError as exc:
            return refuse(ZIP_CORRUPT, f"{where} uses an unsupported compression ({exc}).")
        except RuntimeError as exc:  # zipfile raises this for encryption it detects late
            return refuse(ZIP_ENCRYPTED, f"{where} could not be unpacked ({exc}).")
        if stop is not None:
            code, message = stop
            return refuse(code, f"{where} {message}")
        guessed = _sniff_type(data, guessed)
        member = Attachment(path, filename, original, guessed, data, warning)
        if _is_zip(filename, guessed, data):
            _ZipUnpacker(self.reader, self.budget).unpack(member, depth + 1)
            return not self.budget.exhausted
        return self.reader._add(member)

    def _read_bounded(
        self, zf: zipfile.ZipFile, info: zipfile.ZipInfo
    ) -> tuple[bytes, tuple[str, str] | None]:
        """Read in chunks, stopping at the first limit passed: headers can lie."""
        chunks: list[bytes] = []
        size = 0
        ratio_cap = max(info.compress_size, 1) * self.limits.zip_max_ratio
        with zf.open(info) as stream:
            while chunk := stream.read(ZIP_READ_CHUNK):
                size += len(chunk)
                self.budget.total_bytes += len(chunk)
                if size > self.limits.max_attachment_bytes:
                    return b"", (
                        ATTACHMENT_TOO_LARGE,
                        f"unpacks to more than {self.limits.max_attachment_bytes:,} bytes, "
                        "the limit; it was not kept.",
                    )
                if size >= ZIP_RATIO_MIN_BYTES and size > ratio_cap:
                    return b"", (
                        ZIP_BOMB,
                        f"unpacks to more than {size:,} bytes from {info.compress_size:,} "
                        f"(a ratio above {self.limits.zip_max_ratio}:1); it was not kept.",
                    )
                if self.budget.total_bytes > self.limits.zip_max_total_bytes:
                    self.budget.exhausted = True
                    return b"", (
                        ZIP_BOMB,
                        f"takes the archive past {self.limits.zip_max_total_bytes:,} unpacked "
                        "bytes, the limit; it and the remaining members were not kept.",
                    )
                chunks.append(chunk)
        return b"".join(chunks), None


# --- helpers: headers ------------------------------------------------------------------------


def _fatal(message_id: str, code: str, message: str) -> ParsedMessage:
    return ParsedMessage(
        message_id=message_id, message_id_synthetic=True, fatal=Problem(code, message)
    )


def _looks_like_email(raw: bytes) -> bool:
    """True when the input starts with a header block holding a known mail header."""
    head = raw[:SNIFF_BYTES].lstrip(b"\r\n")
    lines = head.splitlines()
    if lines and lines[0].startswith(b"From "):  # mbox envelope line
        lines = lines[1:]
    if not lines or not HEADER_LINE.match(lines[0]):
        return False
    for line in lines:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            continue
        if not HEADER_LINE.match(line):
            return False
        name = line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        if name in MAIL_HEADER_NAMES:
            return True
    return False


def _parse_headers_only(raw: bytes, synthetic_id: str) -> ParsedMessage:
    """Headers of a message too large to read in full, for the record."""
    head = raw[:MAX_HEADER_BLOCK_BYTES]
    end = re.search(rb"\r?\n\r?\n", head)
    head = head[: end.end()] if end else head
    msg = BytesParser(policy=_ParsePolicy()).parsebytes(head, headersonly=True)
    problems: list[Problem] = []
    parsed = _headers_to_parsed(msg, synthetic_id, problems)
    parsed.problems = problems
    return parsed


class _Headers:
    """Header access that falls back to compat32 when policy.default cannot parse one."""

    def __init__(self, msg: Message, problems: list[Problem]) -> None:
        self.msg = msg
        self.problems = problems
        self.fallback_charset = _safe_charset(msg.get_param("charset", header="content-type"))

    def get(self, name: str) -> str:
        values = self.get_all(name)
        return values[0] if values else ""

    def get_all(self, name: str) -> list[str]:
        raw_values = [v for k, v in self.msg.raw_items() if k.lower() == name.lower()]
        values = []
        for index, raw_value in enumerate(raw_values):
            try:
                value = str(self.msg.get_all(name)[index])
            except Exception as exc:  # fall back to the lenient parser
                value = _compat_decode(raw_value)
                self.problems.append(
                    Problem(
                        BROKEN_MIME,
                        f"The {name} header could not be parsed strictly ({type(exc).__name__})"
                        f"; it was read leniently as '{_printable(value)[:80]}'.",
                    )
                )
            values.append(self._fix_8bit(name, value))
        return values

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, lower-case address) pairs of an address header."""
        found: list[tuple[str, str]] = []
        for index, raw_value in enumerate(
            v for k, v in self.msg.raw_items() if k.lower() == name.lower()
        ):
            try:
                header = self.msg.get_all(name)[index]
                pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
            except Exception:  # compat32 getaddresses is the lenient path
                pairs = [
                    (_compat_decode(display), addr)
                    for display, addr in getaddresses([str(raw_value)])
                ]
            for display, addr in pairs:
                addr = self._fix_8bit(name, addr).strip().lower()
                if addr and "@" in addr:
                    found.append((self._fix_8bit(name, display).strip(), addr))
        return found

    def _fix_8bit(self, name: str, value: str) -> str:
        """Re-decode raw 8-bit bytes (kept as surrogates by the parser) in a header."""
        if not any("\udc80" <= ch <= "\udcff" for ch in value):
            return value
        data = value.encode("utf-8", "surrogateescape")
        for charset in ("utf-8", self.fallback_charset):
            if charset:
                try:
                    return data.decode(charset)
                except UnicodeDecodeError:
                    continue
        self.problems.append(
            Problem(
                UNKNOWN_CHARSET,
                f"The {name} header holds bytes in an unknown character set; "
                "they were read as windows-1252.",
            )
        )
        return data.decode("cp1252", "replace")


def _compat_decode(value: Any) -> str:
    """Decode encoded-words the lenient compat32 way."""
    text = str(value)
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, UnicodeError, ValueError, email_errors.HeaderParseError):
        return text


def _headers_to_parsed(msg: Message, synthetic_id: str, problems: list[Problem]) -> ParsedMessage:
    """Fill the header fields of a ParsedMessage."""
    headers = _Headers(msg, problems)
    raw_id = headers.get("Message-ID").strip()
    ids = MSG_ID_TOKEN.findall(raw_id)
    if ids:
        message_id, synthetic = ids[0], False
    elif raw_id and " " not in raw_id:
        message_id, synthetic = f"<{raw_id.strip('<>')}>", False
    else:
        message_id, synthetic = synthetic_id, True
        problems.append(
            Problem(
                MISSING_MESSAGE_ID,
                "The message has no usable Message-ID header; "
                f"{synthetic_id} was derived from its content.",
            )
        )
    senders = headers.addresses("From")
    recipients: list[str] = []
    for name in ("To", "Cc"):
        for _display, addr in headers.addresses(name):
            if addr not in recipients:
                recipients.append(addr)
    selected = {}
    for name in SELECTED_HEADERS:
        values = headers.get_all(name)
        if values:
            selected[name] = "\n".join(values)
    selected["DKIM-Signature"] = "present" if msg.get("DKIM-Signature") is not None else "absent"
    in_reply_to_raw = headers.get("In-Reply-To")
    in_reply_to_ids = MSG_ID_TOKEN.findall(in_reply_to_raw)
    return ParsedMessage(
        message_id=message_id,
        message_id_synthetic=synthetic,
        sender=senders[0][1] if senders else "",
        sender_name=senders[0][0] if senders else "",
        recipients=recipients,
        subject=" ".join(headers.get("Subject").split()),
        sent_at=_parse_date(headers.get("Date"), problems),
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else in_reply_to_raw.strip(),
        references=MSG_ID_TOKEN.findall(" ".join(headers.get_all("References"))),
        headers=selected,
    )


def _parse_date(value: str, problems: list[Problem]) -> datetime | None:
    """Aware UTC datetime of a Date header; None (plus BAD_DATE) when unreadable."""
    if not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        problems.append(Problem(BAD_DATE, f"The Date header '{value[:80]}' is not a date."))
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no known local zone (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


# --- helpers: parts ------------------------------------------------------------------------


def _is_attachment(part: Message) -> bool:
    """Attachment = disposition attachment, a file name, or a non-text leaf part."""
    try:
        disposition = part.get_content_disposition()
    except Exception:  # an unreadable disposition: judge by type below
        disposition = None
    if disposition == "attachment":
        return True
    if _has_filename(part):
        return True
    ctype = part.get_content_type()
    maintype = part.get_content_maintype()
    if ctype in TEXT_TYPES_AS_ATTACHMENTS:
        return True
    return maintype not in ("text", "multipart", "message")


def _has_filename(part: Message) -> bool:
    try:
        return bool(part.get_filename())
    except Exception:  # raw parameters tell us enough here
        return any(
            k.lower() in ("content-disposition", "content-type")
            and re.search(r"\b(file)?name\*?=", str(v), re.IGNORECASE)
            for k, v in part.raw_items()
        )


def _part_filename(part: Message, problems: list[Problem]) -> str:
    """The decoded file name (RFC 2231 or encoded-words), '' when there is none."""
    try:
        name = part.get_filename() or ""
    except Exception as exc:  # retry with compat32
        compat = Message()
        for key, value in part.raw_items():
            if key.lower() in ("content-disposition", "content-type"):
                compat[key] = str(value)
        try:
            name = compat.get_filename() or ""
        except (LookupError, UnicodeError, ValueError) as inner:
            problems.append(
                Problem(BROKEN_MIME, f"An attachment's file name could not be read ({inner}).")
            )
            return ""
        problems.append(
            Problem(
                BROKEN_MIME,
                f"The file name '{_printable(name)}' was read leniently ({type(exc).__name__}).",
            )
        )
    if "=?" in name and "?=" in name:  # encoded-words inside a quoted parameter
        name = _compat_decode(name)
    if any("\udc80" <= ch <= "\udcff" for ch in name):
        data = name.encode("utf-8", "surrogateescape")
        try:
            name = data.decode("utf-8")
        except UnicodeDecodeError:
            name = data.decode("cp1252", "replace")
    return name.strip()


def _name_and_warning(original: str, path: str, ctype: str) -> tuple[str, Problem | None]:
    fallback = f"attachment-{path.replace('/', '-').replace('.', '-')}{_extension_for(ctype)}"
    filename = safe_filename(original, fallback)
    if original and filename != unicodedata.normalize("NFC", original):
        return filename, Problem(
            UNSAFE_FILENAME,
            f"Attachment name '{_printable(original)}' (part {path}) is unsafe; "
            f"it was saved as '{filename}'.",
        )
    return filename, None


def _find_body_parts(msg: Message) -> tuple[Message | None, Message | None]:
    """First inline text/plain and text/html parts, not descending into attachments."""
    plain = html_part = None
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, level = stack.pop(0)
        if level > MAX_MIME_DEPTH:
            continue
        ctype = part.get_content_type()
        if part.get_content_maintype() == "multipart":
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [(child, level + 1) for child in payload]
            continue
        if ctype == "message/rfc822" or _is_attachment(part):
            continue
        if ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html_part is None:
            html_part = part
    return plain, html_part


def _message_bytes(msg: Message) -> bytes:
    """Bytes of a forwarded message, re-serialised leniently."""
    try:
        return msg.as_bytes(policy=policy.default.clone(linesep="\r\n"))
    except Exception:  # compat32 serialises what policy.default refuses
        return msg.as_bytes(policy=policy.compat32)


def _is_zip(filename: str, ctype: str, data: bytes) -> bool:
    """A zip archive to unpack: by type, by name, or by magic bytes with a generic type."""
    if not data.startswith(ZIP_MAGIC):
        return False
    extension = _extension(filename)
    if extension in ZIP_BASED_DOCUMENT_EXTENSIONS:
        return False
    generic = ctype in ("application/octet-stream", "application/x-download", "")
    return ctype in ZIP_CONTENT_TYPES or extension == ".zip" or generic


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """Member name; names without the UTF-8 flag are often UTF-8 anyway (not cp437)."""
    if info.flag_bits & ZIP_FLAG_UTF8:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _safe_member_path(name: str) -> tuple[str, bool]:
    """A relative member path without traversal; True when the name tried to escape."""
    parts = re.split(r"[\\/]+", name)
    traversal = name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name))
    kept = []
    for piece in parts:
        if piece in ("", "."):
            continue
        if piece == ".." or re.fullmatch(r"\.+", piece):
            traversal = True
            continue
        cleaned = _clean_name(piece)
        if cleaned:
            kept.append(cleaned)
    return "/".join(kept) or "member", traversal


def _sniff_type(data: bytes, guessed: str) -> str:
    if guessed != "application/octet-stream":
        return guessed
    head = data[:16].lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, ctype in MAGIC_TYPES:
        if head.startswith(magic):
            return ctype
    return guessed


def _extension(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot > 0 else ""


def _extension_for(ctype: str) -> str:
    return EXTENSION_BY_TYPE.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"


def _clean_name(name: str) -> str:
    """Core of safe_filename; '' when nothing usable is left."""
    name = unicodedata.normalize("NFC", name or "")
    # Control (Cc) and format (Cf: bidi overrides, zero-width) characters can hide the
    # real extension ("invoice\u202efdp.exe") or break file systems (NUL).
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = re.split(r"[\\/]", name)[-1]  # the last path component only
    name = re.sub(r"^[A-Za-z]:", "", name)  # "C:x.exe" drive-relative form
    name = WINDOWS_FORBIDDEN_CHARS.sub("_", name)
    name = " ".join(name.split())
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        return ""
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > MAX_EXTENSION_CHARS:
        stem, extension = name, ""
    if stem.lower() in WINDOWS_RESERVED_NAMES:
        stem = f"_{stem}"
    suffix = f".{extension}" if extension else ""
    while stem and (
        len(stem) + len(suffix) > MAX_FILENAME_CHARS
        or len((stem + suffix).encode("utf-8")) > MAX_FILENAME_BYTES
    ):
        stem = stem[:-1]
    stem = stem.rstrip(". ")
    if not stem:
        return ""
    return stem + suffix


def _printable(text: str) -> str:
    """The name as staff can read it: control and bidi characters shown as escapes."""
    return "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf", "Cs") else f"\\u{ord(ch):04x}"
        for ch in text
    )


# --- helpers: text ----------------------------------------------------------------------------


def _safe_charset(name: str | None) -> str | None:
    """A Python codec name for a declared charset, None when unknown or not a text codec."""
    if not name:
        return None
    key = str(name).strip().strip('"').lower()
    key = CHARSET_ALIASES.get(key, key)
    try:
        info = codecs.lookup(key)
    except LookupError:
        return None
    # codecs such as "zlib" or "base64" are not text encodings and must not be trusted.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def _decode_text(payload: bytes, declared: str | None, where: str, problems: list[Problem]) -> str:
    """Decode with the declared charset; unknown charsets are guessed and reported."""
    charset = _safe_charset(declared)
    if charset:
        try:
            return payload.decode(charset)
        except UnicodeDecodeError:
            problems.append(
                Problem(
                    UNKNOWN_CHARSET,
                    f"Text in {where} is not valid {declared}; undecodable bytes were replaced.",
                )
            )
            return payload.decode(charset, "replace")
    if declared and declared.strip().lower() not in ("us-ascii", "ascii"):
        problems.append(
            Problem(
                UNKNOWN_CHARSET,
                f"Text in {where} declares the unknown character set '{declared}'; "
                "it was read as UTF-8 or windows-1252.",
            )
        )
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("cp1252", "replace")


class _TextExtractor(HTMLParser):
    """HTML to plain text: drops scripts and styles, breaks lines at block elements."""

    BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr"})
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCKS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.pieces.append(data)


def _html_to_text(html_text: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html_text)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.pieces).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
