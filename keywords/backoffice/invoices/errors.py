"""Named errors of invoice reading; each carries the problem code stored on the result."""

from __future__ import annotations

from backoffice.errors import BusinessError


class DocumentError(BusinessError):
    """The file cannot be read as a document (bad data: retrying will not help)."""

    code = "DOCUMENT_UNREADABLE"


class PdfEncrypted(DocumentError):
    """The PDF needs a password."""

    code = "PDF_ENCRYPTED"


class PdfTruncated(DocumentError):
    """The PDF is damaged or cut short."""

    code = "PDF_TRUNCATED"


class TooManyPages(DocumentError):
    """The document has more pages than an invoice plausibly has."""

    code = "TOO_MANY_PAGES"


class ImageTooLarge(DocumentError):
    """The image (or a page rendered from it) is larger than the pixel limit: a bomb."""

    code = "IMAGE_TOO_LARGE"


class XmlUnsafe(DocumentError):
    """The XML uses entities or DTDs that could read files or explode in memory."""

    code = "XML_UNSAFE"


class XmlInvalid(DocumentError):
    """The XML is not well-formed."""

    code = "XML_INVALID"


class UnsupportedFile(DocumentError):
    """Not a PDF, image or XML file we know how to read."""

    code = "UNSUPPORTED_FILE"


class FileTooLarge(DocumentError):
    """The file is larger than the byte limit."""

    code = "FILE_TOO_LARGE"


class OcrUnavailable(DocumentError):
    """Tesseract is missing or failed on a page."""

    code = "OCR_FAILED"
