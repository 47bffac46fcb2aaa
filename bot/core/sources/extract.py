"""Turn the bytes of a page or file into article text: HTML, PDF, Word .docx, plain text.

HTML goes through trafilatura, which keeps the article and drops menus, cookie banners,
related-article lists and footers. PDF text comes from pypdf and is re-flowed: a PDF line is
a line of print, not a paragraph, and the sentence splitter reads one paragraph a line.
"""

from __future__ import annotations

import importlib
import io
import logging
import re
import statistics
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from bot.core.errors import SourceError
from bot.core.sources.base import Kind, Source, document_title, too_much_text

if TYPE_CHECKING:
    from pypdf import PageObject, PdfReader
    from pypdf.generic import StreamObject

log = logging.getLogger(__name__)

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_TYPE_KINDS: dict[str, Kind] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "text/markdown": "text",
    "text/x-markdown": "text",
    "application/pdf": "pdf",
    DOCX_TYPE: "docx",
}
_SUFFIX_KINDS: dict[str, Kind] = {
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".markdown": "text",
    ".pdf": "pdf",
    ".docx": "docx",
}
_OLD_FORMATS = {
    ".doc": "Old Word .doc files can't be read; save it as .docx or PDF, or send the text.",
    ".rtf": "RTF files can't be read; save it as .docx or PDF, or send the text.",
    ".odt": "OpenDocument files can't be read; save it as .docx or PDF, or send the text.",
}
_SCANNED = "This PDF has no text layer (it looks scanned); send the text instead."
UNREADABLE = "This file could not be read; send the text instead."
# Far more characters than any article: a file past this is refused before its text is
# numbered (the digest's own token limit gives the precise line for anything below it).
MAX_TEXT_CHARS = 2_000_000
# A PDF: pages read, and decoded page content (content streams and the forms they draw,
# counted once per page that uses them) processed, before it is refused as no article.
MAX_PDF_PAGES = 1000
MAX_PDF_CONTENT_BYTES = 40_000_000
_PDF_STREAM_BYTES = 20_000_000  # the most one stream may inflate to (pypdf's default: 75 MB)
_LIBRARIES: dict[str, tuple[str, ...]] = {
    "pdf": ("pypdf",),
    "docx": ("lxml.etree",),
    "html": ("trafilatura",),
    "text": ("charset_normalizer",),
}
# A PDF with fewer visible characters than this per page has no real text layer.
_MIN_PDF_CHARS_PER_PAGE = 20
_SENTENCE_END = re.compile(r"""[.!?:;。！？；：…]["'”’)\]」』»）]*$""")
_CJK_EDGE = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_COLUMN_GAP = re.compile(r"\S {5,}\S")
_SPACES = re.compile(r"\s{2,}")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE)


def kind_of(filename: str | None, content_type: str | None, data: bytes = b"") -> Kind | None:
    """What the bytes are: their signature first, then the declared type, then the name."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04") and b"word/" in data[:4096]:
        return "docx"
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _TYPE_KINDS:
        return _TYPE_KINDS[media_type]
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix in _SUFFIX_KINDS:
        return _SUFFIX_KINDS[suffix]
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    return None


def preload(kind: Kind | None) -> None:
    """Import what reading ``kind`` needs (the worker does it before limiting its memory)."""
    for name in _LIBRARIES.get(kind or "text", ()):
        importlib.import_module(name)


def read_bytes(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    charset: str | None = None,
    url: str | None = None,
    max_chars: int | None = None,
) -> Source:
    """The article in a file or page body; a SourceError says why it cannot be read.

    Every failure of a parser ends here as a SourceError: the user gets one line, the log
    gets the exception's type (never its message, which may quote the article).
    """
    try:
        return _read(data, filename, content_type, charset, url, max_chars or MAX_TEXT_CHARS)
    except SourceError:
        raise
    except MemoryError:
        raise SourceError(
            "This file needs more memory to read than I allow; send the text instead."
        ) from None
    except RecursionError:
        raise SourceError(
            "This file is nested too deeply to read; send the text instead."
        ) from None
    except Exception as error:
        log.warning("reading a %s file failed: %s", _kind_name(filename), type(error).__name__)
        raise SourceError(UNREADABLE) from None


def _kind_name(filename: str | None) -> str:
    return PurePosixPath(filename or "").suffix.lower() or "nameless"


def _read(
    data: bytes,
    filename: str | None,
    content_type: str | None,
    charset: str | None,
    url: str | None,
    max_chars: int,
) -> Source:
    suffix = PurePosixPath(filename or "").suffix.lower()
    kind = kind_of(filename, content_type, data)
    if kind is None:
        if suffix in _OLD_FORMATS:
            raise SourceError(_OLD_FORMATS[suffix])
        if _looks_binary(data):
            what = f"{suffix} file" if suffix else "file"
            raise SourceError(
                f"This {what} is not text, a web page, a PDF or a Word .docx file; send one "
                "of those or the text."
            )
        kind = "text"
    if not data.strip():
        raise SourceError("This file is empty.")
    date: str | None = None  # a page's metadata date; files give none here
    if kind == "pdf":
        title, text = _read_pdf(data, max_chars)
    elif kind == "docx":
        from bot.core.sources.word import read_docx

        title, text = read_docx(data, max_chars)
    elif kind == "html":
        title, text, date = _read_html(data, charset=charset, url=url)
    else:
        title, text = None, decode_text(data, charset)
    if len(text) > max_chars:
        raise too_much_text(max_chars)
    text = _with_headline(title, text)
    if not text.strip():
        raise SourceError("This file has no text in it.")
    return Source(text=text, title=title, kind=kind, url=url, filename=filename, date=date)


def _looks_binary(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start < len(head) - 4  # not merely a character cut at the boundary
    return False


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Text in the charset declared, else UTF-8, else the most likely charset."""
    for encoding in (charset, "utf-8-sig"):
        if encoding:
            try:
                return data.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return str(best) if best is not None else data.decode("utf-8", errors="replace")


def _with_headline(title: str | None, text: str) -> str:
    """The text with its headline as the first line, as a paste of the article would have."""
    text = text.strip()
    if not title:
        return text
    first = text.split("\n", 1)[0].strip()
    squash = re.compile(r"\W+")
    if squash.sub("", title).lower() in squash.sub("", first).lower():
        return text
    return f"{title}\n\n{text}"


# --- HTML ------------------------------------------------------------------------------------


def _read_html(
    data: bytes, *, charset: str | None, url: str | None
) -> tuple[str | None, str, str | None]:
    """The page's title, article text and publication date (trafilatura's metadata)."""
    import trafilatura

    html: str | bytes = data
    if charset:
        try:
            html = data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            html = data
    document = None
    for recall in (False, True):
        document = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_recall=recall,
            deduplicate=False,
        )
        if document is not None and getattr(document, "text", None):
            break
    text = (getattr(document, "text", None) or "").strip() if document is not None else ""
    if not text:
        raise SourceError(
            "Found no article text on that page (it may need JavaScript or a login); paste "
            "the text instead."
        )
    title = getattr(document, "title", None)
    date = getattr(document, "date", None)
    return (
        (title.strip() if isinstance(title, str) and title.strip() else None),
        text,
        date.strip() if isinstance(date, str) and date.strip() else None,
    )


# --- PDF -------------------------------------------------------------------------------------


def _read_pdf(data: bytes, max_chars: int = MAX_TEXT_CHARS) -> tuple[str | None, str]:
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError

    locked = "This PDF is password-protected; send an unlocked copy or the text."
    limits = pypdf.apply_configuration(
        zlib_maximum_output_length=_PDF_STREAM_BYTES,
        lzw_maximum_output_length=_PDF_STREAM_BYTES,
        run_length_maximum_output_length=_PDF_STREAM_BYTES,
        brotli_maximum_output_length=_PDF_STREAM_BYTES,
        array_based_stream_maximum_output_length=_PDF_STREAM_BYTES,
        stream_decoding_work_maximum_length=4 * _PDF_STREAM_BYTES,
        image_maximum_buffer_size=_PDF_STREAM_BYTES,
        jbig2dec_binary=None,  # never run an external decoder on a stranger's bytes
    )
    try:
        with limits:
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise SourceError(locked)
            pages = _pdf_pages(reader, max_chars)
            metadata = reader.metadata
    except SourceError:
        raise
    except LimitReachedError:
        raise _too_complex() from None
    except FileNotDecryptedError:
        raise SourceError(locked) from None
    except DependencyError:  # an encryption pypdf cannot undo with what is installed
        raise SourceError(
            "This PDF is encrypted in a way I can't read; send an unlocked copy or the text."
        ) from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        if "password" in str(error).lower() or "decrypt" in str(error).lower():
            raise SourceError(locked) from None
        raise SourceError("This file is not a readable PDF; send the text instead.") from None
    visible = sum(len(re.sub(r"\s+", "", page)) for page in pages)
    if visible < _MIN_PDF_CHARS_PER_PAGE * max(1, min(len(pages), 3)):
        raise SourceError(_SCANNED)
    text = "\n".join(paragraph for page in pages for paragraph in reflow(page))
    title = metadata.title if metadata is not None else None
    return document_title(title), text


def _too_complex() -> SourceError:
    return SourceError(
        "This PDF is too large or complex to read (its pages unpack to more than "
        f"{MAX_PDF_CONTENT_BYTES // 1_000_000} MB); send the text instead."
    )


def _pdf_pages(reader: PdfReader, max_chars: int) -> list[str]:
    """Each page's text, within the page and content budgets.

    A page drawn by the very streams of an earlier page (one 70 MB stream shared by every
    page is a known bomb) has that page's text: it is not read again, nor repeated.
    """
    count = len(reader.pages)
    if count > MAX_PDF_PAGES:
        raise SourceError(
            f"This PDF has {count:,} pages; I read up to {MAX_PDF_PAGES:,}. Send the "
            "article's pages or its text."
        )
    seen: set[tuple[int, ...]] = set()
    work = 0
    chars = 0
    texts: list[str] = []
    for page in reader.pages:
        streams = _page_streams(page)
        key = tuple(sorted(id(stream) for stream in streams))
        if streams and key in seen:
            continue
        seen.add(key)
        # Layout mode and the plain fallback may each walk the content once.
        work += 2 * sum(len(stream.get_data()) for stream in streams)
        if work > MAX_PDF_CONTENT_BYTES:
            raise _too_complex()
        text = _page_text(page)
        chars += len(text)
        if chars > max_chars:
            raise too_much_text(max_chars)
        texts.append(text)
    return texts


def _page_streams(page: PageObject) -> list[StreamObject]:
    """The content streams a page draws, and the forms (XObjects) it may draw, deduplicated.

    Reading ``get_data`` here decodes each (within pypdf's per-stream cap) once; pypdf keeps
    the decoded bytes on the shared object, so extraction does not inflate it again.
    """
    from pypdf.generic import ArrayObject, DictionaryObject
    from pypdf.generic import StreamObject as Stream

    found: dict[int, Stream] = {}

    def resolve(value: object) -> object:
        return value.get_object() if hasattr(value, "get_object") else value

    def add(value: object, depth: int) -> None:
        resolved = resolve(value)
        if isinstance(resolved, ArrayObject):
            for item in resolved:
                add(item, depth)
        elif isinstance(resolved, Stream) and id(resolved) not in found:
            found[id(resolved)] = resolved
            if depth < 4 and resolved.get("/Subtype") == "/Form":
                forms(resolved.get("/Resources"), depth + 1)

    def forms(resources: object, depth: int) -> None:
        resources = resolve(resources)
        if isinstance(resources, DictionaryObject):
            xobjects = resolve(resources.get("/XObject"))
            if isinstance(xobjects, DictionaryObject):
                for value in xobjects.values():
                    form = resolve(value)
                    if isinstance(form, Stream) and form.get("/Subtype") == "/Form":
                        add(form, depth)  # images are not drawn as text: never decoded

    add(page.get("/Contents"), 0)
    forms(page.get("/Resources"), 0)
    return list(found.values())


def _page_text(page: PageObject) -> str:
    """A page's text with its paragraph gaps as blank lines (layout mode), unless the page
    is laid out in columns, which layout mode would interleave line by line."""
    try:
        laid_out = page.extract_text(extraction_mode="layout")
    except Exception:  # layout mode is the fragile one; the plain text is the fallback
        laid_out = ""
    lines = [line.strip() for line in laid_out.splitlines() if line.strip()]
    columns = sum(1 for line in lines if _COLUMN_GAP.search(line))
    if not lines or columns > 0.3 * len(lines):
        return page.extract_text() or ""
    return "\n".join(_SPACES.sub(" ", line.strip()) for line in laid_out.splitlines())


def reflow(page: str) -> list[str]:
    """The paragraphs of a PDF page: lines of print joined, page numbers dropped.

    A line as long as the page's usual line continues into the next; a shorter line, or a
    blank one, ends the paragraph (a heading, the last line of a paragraph).
    """
    lines = [line.strip() for line in page.splitlines()]
    lengths = sorted(len(line) for line in lines if line)
    if not lengths:
        return []
    full = statistics.quantiles(lengths, n=10)[7] if len(lengths) >= 4 else max(lengths)
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line or _PAGE_NUMBER.match(line):
            if current:
                paragraphs.append(current)
            current = ""
            continue
        current = _join(current, line) if current else line
        if _HYPHENATED.search(line):
            continue
        short = len(line) < 0.75 * full
        if short or (_SENTENCE_END.search(line) and len(line) < 0.9 * full):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def _join(left: str, right: str) -> str:
    # "die-" + "casting": the hyphen is kept (compounds are far commoner in news than
    # words split across lines).
    if _HYPHENATED.search(left):
        return left + right
    if _CJK_EDGE.match(left[-1]) and _CJK_EDGE.match(right[0]):
        return left + right
    return f"{left} {right}"
