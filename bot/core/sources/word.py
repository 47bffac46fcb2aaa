"""Word .docx: the article in ``document.xml``, read within size checks by a hardened parser.

Not python-docx: it loads every part of the package into memory (a 2 GB picture too), builds
the whole document as one tree (500 MB of XML took minutes and gigabytes), and looks each
paragraph's style up in about a millisecond. Here only the parts the text needs are opened
(the main document, its styles, the core properties), each after its declared size, its
compression ratio and the running total are checked, and read with a count of what actually
inflates (a zip may lie about sizes). The document is parsed as a stream (lxml iterparse, no
entities, no DTD, no network, libxml2's size limits on) and each paragraph or table is
dropped once read.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.core.errors import SourceError
from bot.core.sources.base import document_title, too_much_text

if TYPE_CHECKING:
    from lxml import etree  # type: ignore[import-untyped]

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_OFFICE_DOCUMENT = "/officeDocument"
_CORE = "/core-properties"
_STYLES = "/styles"

MAX_MEMBERS = 10_000  # entries in the zip
MAX_DOCUMENT_BYTES = 50_000_000  # document.xml inflated: some 5 MB of text at least
MAX_PART_BYTES = 10_000_000  # styles, properties, relationships
MAX_TOTAL_BYTES = 64_000_000  # all the parts read, together
MAX_RATIO = 200  # inflated / compressed, for a part over 1 MB (zip bombs: 1,000 and more)

NOT_DOCX = "This file is not a readable Word .docx document; send the text instead."
DAMAGED = "This Word file is damaged (its text could not be read); send the text instead."

_SKIP = frozenset(
    [f"{W}{tag}" for tag in ("pPr", "rPr", "del", "delText", "instrText", "txbxContent")]
    + [f"{W}fldData", f"{W}moveFrom", _MC_FALLBACK]
)
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def _too_large(limit: int) -> SourceError:
    return SourceError(
        f"This Word file is too large once unpacked (over {limit // 1_000_000} MB); send the "
        "text instead."
    )


class _Package:
    """The zip, opened and read part by part within the limits."""

    def __init__(self, data: bytes) -> None:
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
            raise SourceError(NOT_DOCX) from None
        if len(infos) > MAX_MEMBERS:
            raise SourceError(NOT_DOCX)
        self.infos = {info.filename.lstrip("/"): info for info in infos}
        self.total = 0

    def read(self, name: str, limit: int) -> bytes | None:
        """The part's bytes, None when absent; a SourceError when it is too big or lies."""
        info = self.infos.get(name)
        if info is None:
            return None
        if info.file_size > limit or self.total + info.file_size > MAX_TOTAL_BYTES:
            raise _too_large(min(limit, MAX_TOTAL_BYTES))
        if info.file_size > 1_000_000 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _too_large(min(limit, MAX_TOTAL_BYTES))
        parts: list[bytes] = []
        size = 0
        try:
            with self.zip.open(info) as member:
                while chunk := member.read(1 << 20):
                    size += len(chunk)
                    if size > info.file_size or size > limit:
                        raise SourceError(DAMAGED)
                    parts.append(chunk)
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError):
            raise SourceError(DAMAGED) from None  # a bad CRC or size, encryption, a method
        self.total += size
        return b"".join(parts)

    def targets(self, source: str, kind: str) -> list[str]:
        """The parts ``source`` relates to by a relationship type ending in ``kind``."""
        folder, name = posixpath.split(source)
        rels = self.read(posixpath.join(folder, "_rels", f"{name}.rels"), MAX_PART_BYTES)
        if rels is None:
            return []
        found = []
        for rel in _tree(rels).iter(_REL):
            if (rel.get("Type") or "").endswith(kind) and rel.get("TargetMode") != "External":
                target = rel.get("Target") or ""
                path = target.lstrip("/") if target.startswith("/") else (
                    posixpath.normpath(posixpath.join(folder, target))
                )  # fmt: skip
                found.append(path)
        return found


def _parser_options() -> dict[str, bool]:
    return {
        "resolve_entities": False,
        "no_network": True,
        "load_dtd": False,
        "huge_tree": False,  # libxml2's limits: 10 MB a text node, 256 levels deep
        "remove_comments": True,
        "remove_pis": True,
    }


def _tree(xml: bytes) -> etree._Element:
    from lxml import etree

    if _DOCTYPE.search(xml[:65536]):
        raise SourceError(DAMAGED)  # no part of a Word file has a DTD; entities are bombs
    try:
        return etree.fromstring(xml, etree.XMLParser(**_parser_options()))
    except etree.XMLSyntaxError:
        raise SourceError(DAMAGED) from None


def read_docx(data: bytes, max_chars: int) -> tuple[str | None, str]:
    """The title (core properties, else a first Title/Heading paragraph) and the text: one
    paragraph a line, each table row as its cells joined by " | "."""
    from lxml import etree

    package = _Package(data)
    main = (package.targets("", _OFFICE_DOCUMENT) or ["word/document.xml"])[0]
    if main not in package.infos:
        raise SourceError(NOT_DOCX)
    styles = _style_names(package, main)
    core = (package.targets("", _CORE) or ["docProps/core.xml"])[0]
    core_xml = package.read(core, MAX_PART_BYTES)
    document = package.read(main, MAX_DOCUMENT_BYTES)
    assert document is not None
    if _DOCTYPE.search(document[:65536]):
        raise SourceError(DAMAGED)
    lines: list[str] = []
    heading: str | None = None
    chars = 0
    try:
        for kind, element in _blocks(document):
            if kind == "table":
                new = _table_lines(element)
            else:
                text = _paragraph_text(element).strip()
                new = [text] if text else []
                style_id = _style_id(element)
                style = styles.get(style_id) or style_id or styles.get("", "")
                if new and heading is None and not lines and _is_heading(style):
                    heading = text
            lines += new
            chars += sum(len(line) + 1 for line in new)
            if chars > max_chars:
                raise too_much_text(max_chars)
    except etree.XMLSyntaxError:
        raise SourceError(DAMAGED) from None
    title = None
    if core_xml is not None:
        found = _tree(core_xml).find(_DC_TITLE)
        title = document_title(found.text if found is not None else None)
    return title or heading, "\n".join(lines)


def _blocks(document: bytes) -> Iterator[tuple[str, etree._Element]]:
    """The body's paragraphs and tables in order (content controls opened), each complete;
    each is cleared once the caller is done with it, so memory stays one block deep."""
    from lxml import etree

    depth = 0
    for event, element in etree.iterparse(
        io.BytesIO(document), events=("start", "end"), **_parser_options()
    ):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if depth != 2:  # w:document > w:body > the block
            continue
        yield from _block(element)
        element.clear()
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]


def _block(element: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    if element.tag == f"{W}p":
        yield "paragraph", element
    elif element.tag == f"{W}tbl":
        yield "table", element
    elif element.tag in (f"{W}sdt", f"{W}customXml", f"{W}sdtContent"):
        for child in element:
            yield from _block(child)


def _paragraph_text(paragraph: etree._Element) -> str:
    out: list[str] = []
    _collect(paragraph, out)
    return "".join(out)


def _collect(element: etree._Element, out: list[str]) -> None:
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIP:
            continue
        if tag == f"{W}t":
            out.append(child.text or "")
        elif tag in (f"{W}tab", f"{W}ptab"):
            out.append("\t")
        elif tag in (f"{W}br", f"{W}cr"):
            if child.get(f"{W}type") in (None, "textWrapping"):
                out.append("\n")  # a page or column break is not a line of text
        elif tag == f"{W}noBreakHyphen":
            out.append("-")
        else:
            _collect(child, out)


def _table_lines(table: etree._Element) -> list[str]:
    lines = []
    for row in table.iter(f"{W}tr"):
        if _enclosing_table(row) is not table:
            continue  # a row of a table inside a cell: the cell's text has it
        cells = [
            "\n".join(_paragraph_text(p) for p in cell.iterchildren(f"{W}p")).strip()
            for cell in row.iter(f"{W}tc")
            if _enclosing_table(cell) is table
        ]
        unique = list(dict.fromkeys(cell for cell in cells if cell))
        if unique:
            lines.append(" | ".join(unique))
    return lines


def _enclosing_table(element: etree._Element) -> etree._Element | None:
    parent = element.getparent()
    while parent is not None and parent.tag != f"{W}tbl":
        parent = parent.getparent()
    return parent


def _style_id(paragraph: etree._Element) -> str:
    style = paragraph.find(f"{W}pPr/{W}pStyle")
    return (style.get(f"{W}val") or "") if style is not None else ""


def _style_names(package: _Package, main: str) -> dict[str, str]:
    """Paragraph style ID -> name ("" -> the default paragraph style's name)."""
    path = (package.targets(main, _STYLES) or ["word/styles.xml"])[0]
    xml = package.read(path, MAX_PART_BYTES)
    names: dict[str, str] = {}
    if xml is None:
        return names
    for style in _tree(xml).iter(f"{W}style"):
        if style.get(f"{W}type") not in (None, "paragraph"):
            continue
        name_element = style.find(f"{W}name")
        style_id = style.get(f"{W}styleId") or ""
        name = (name_element.get(f"{W}val") if name_element is not None else None) or style_id
        names[style_id] = name
        if style.get(f"{W}default") in ("1", "true", "on"):
            names[""] = name
    return names


def _is_heading(style: str) -> bool:
    return style.lower().startswith(("title", "heading"))
