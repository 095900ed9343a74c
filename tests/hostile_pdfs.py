"""Hostile PDFs, generated: a deflate bomb and a document of 20,000 pages.

Both are real PDFs PDFium opens; nothing is stored in the repository. The bomb is built without
ever holding its inflated content: zlib's full flush makes every block after the first
independent of what came before, so one compressed megabyte is repeated and only the Adler-32
checksum at the end is computed over the whole (as a real 800 MB stream would need).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

MIB = 1024 * 1024
# a content stream of text operators: PDFium's parser keeps an object per operator, so the
# inflated stream costs several times its own size (the reported 2.7 MB file took 10 GB)
BOMB_UNIT = b"BT /F1 12 Tf 72 720 Td (Hello hostile world) Tj ET\n"


def pdf_file(objects: Sequence[bytes], trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A PDF whose objects 1..n are `objects` (1 the catalog), with a correct xref table;
    ``trailer`` holds the trailer's entries besides /Size."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer,
        xref,
    )
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), extra, data)


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(parent: int, contents: int, font: int) -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (parent, contents, font)
    )


def deflate(total: int, unit: bytes = BOMB_UNIT) -> bytes:
    """A zlib stream inflating to `total` bytes (rounded down to whole MiB) of `unit` repeated."""
    chunk = unit * (MIB // len(unit))
    compressor = zlib.compressobj(9)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    last = compressor.flush()[:-4]  # the final empty block; its checksum covers two chunks only
    count = total // len(chunk)
    checksum = 1
    for _ in range(count):
        checksum = zlib.adler32(chunk, checksum)
    return first + block * (count - 1) + last + checksum.to_bytes(4, "big")


def deflate_bomb_pdf(inflated: int = 800 * MIB) -> bytes:
    """One page whose content stream (FlateDecode) inflates to `inflated` bytes."""
    return pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            _page(2, 4, 5),
            _stream(deflate(inflated), b"/Filter /FlateDecode"),
            FONT,
        ]
    )


def page_word(index: int) -> str:
    """A word naming page `index` (0-based) in letters: "aaaa", "baaa"… (digits would make the
    lines look like running headers to the extractor, which drops those)."""
    return "".join(chr(ord("a") + (index // 26**k) % 26) for k in range(4))


def many_pages_pdf(count: int = 20_000) -> bytes:
    """`count` pages, page i saying "The <page_word(i)> page tells its own story."."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", FONT]
    kids: list[bytes] = []
    for index in range(count):
        text = b"BT /F1 11 Tf 72 720 Td (The %s page tells its own story.) Tj ET" % (
            page_word(index).encode()
        )
        objects.append(_stream(text))
        objects.append(_page(2, len(objects), 3))
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), count)
    return pdf_file(objects)
