"""PDFs the report tests parse, made here with reportlab (or by hand, for the broken and hostile
ones): nothing is downloaded and every figure a test asserts is in the text it wrote.

`report_pdf` lays text out the way the CVPR template does (title across the page, body in two
columns of 10 pt Times) so the checks see what a real report gives them; its arguments switch
one property at a time (columns, pages, paper, language, a scan instead of text).
"""
from __future__ import annotations

import io
import os
import zlib

from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

__all__ = ["A4", "letter", "report_pdf", "scanned_pdf", "malformed_pdf", "raw_pdf", "padded_pdf",
           "content_bomb_pdf", "shading_bomb_pdf", "empty_pdf", "lying_count_pdf", "deep_tree_pdf",
           "wide_tree_pdf", "nested_arrays_pdf", "ACCURACY", "BASELINE"]

ACCURACY = "81.18"  # what the English report states as its final test accuracy
BASELINE = "76.40"  # a baseline's figure it also states, which must not be chosen

TITLE = "CNN Implementation: ResNet-50 on CIFAR-10"
AUTHORS = "Jane Doe, Korea University"
ENGLISH = [
    ("Abstract", "In this project we implement a convolutional neural network based on the ResNet-50 "
     "architecture to classify the images of the CIFAR-10 data set. We fill in the forward pass of "
     "the bottleneck residual block and the layers of the network, load the provided pretrained "
     "weights and train for one more epoch with the Adam optimizer and the cross-entropy loss. "
     f"Our final model achieved a test accuracy of {ACCURACY} %, above the target of 80%."),
    ("1. Introduction", "Convolutional networks are the standard tool for image classification. "
     "Residual learning lets much deeper networks train well, because each block only has to learn "
     "a correction to its input, and the shortcut connection carries the gradient back to the early "
     "layers without loss. The goal of this assignment is to understand the structure of ResNet-50 "
     "and to verify its performance by training and evaluating it on a small benchmark."),
    ("2. Implementation", "Each residual block is a bottleneck of three convolutions, one by one, "
     "three by three and one by one, each followed by batch normalization and a ReLU activation. "
     "When a block halves the resolution its first convolution uses a stride of two and a projection "
     "aligns the shortcut. The network stacks three, four and six such blocks in its second, third "
     "and fourth layers, then pools the features and classifies them with a fully connected layer."),
    ("3. Results", "We trained the network for one epoch with a batch size of 128. The training loss "
     "decreased steadily over five hundred steps. A plain VGG-16 baseline trained the same way reached "
     f"{BASELINE}% on the test set. The final ResNet-50 model reached a test accuracy of {ACCURACY}% "
     "on the ten thousand test images, which shows the value of residual connections."),
    ("4. Discussion", "The hardest part was aligning the channels of the shortcut when a block "
     "changes the number of channels. Longer training, a tuned learning rate and data augmentation "
     "would likely improve the result further, and a comparison with shallower networks trained "
     "from scratch would show how much the pretrained weights contribute to the final accuracy."),
]
KOREAN = [
    ("초록", "이 과제에서는 CIFAR-10 데이터 세트의 이미지를 분류하기 위해 ResNet-50 구조를 바탕으로 "
     "합성곱 신경망을 구현하였다. 병목 잔차 블록의 순전파와 네트워크의 각 층을 작성하고, 제공된 사전 "
     "학습 가중치를 불러온 뒤 한 에폭 동안 추가로 학습하였다. 최종 모델의 테스트 정확도는 81.18%였다."),
    ("1. 서론", "합성곱 신경망은 이미지 분류의 표준 도구이다. 잔차 학습은 각 블록이 입력에 대한 보정만을 "
     "학습하게 하여 훨씬 깊은 신경망도 잘 학습되게 한다. 지름길 연결은 기울기를 앞쪽 층까지 손실 없이 "
     "전달한다. 이 과제의 목표는 ResNet-50의 구조를 이해하고 학습과 평가를 통해 성능을 확인하는 것이다."),
    ("2. 구현", "각 잔차 블록은 세 개의 합성곱으로 이루어진 병목 구조이며, 각 합성곱 뒤에는 배치 정규화와 "
     "ReLU 활성화가 온다. 해상도를 절반으로 줄이는 블록에서는 첫 번째 합성곱의 보폭을 2로 하고, 지름길에는 "
     "투영을 두어 채널을 맞춘다. 네트워크는 두 번째, 세 번째, 네 번째 층에 각각 세 개, 네 개, 여섯 개의 블록을 쌓는다."),
]
REFERENCES = ("References", "[1] K. He, X. Zhang, S. Ren and J. Sun. Deep residual learning for image "
              "recognition. In CVPR, 2016. [2] A. Krizhevsky. Learning multiple layers of features from "
              "tiny images. Technical report, 2009.")


def _korean_font() -> str:
    name = "HYSMyeongJo-Medium"  # one of the Adobe CID fonts every PDF reader knows: no font file
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    return name


def report_pdf(*, columns: int = 2, pages: int = 1, pagesize: tuple[float, float] = letter,
               language: str = "en", references_page: bool = False, blank_page: bool = False,
               title: str | None = TITLE, abstract: bool = True, password: str | None = None,
               sections: list[tuple[str, str]] | None = None) -> bytes:
    """A report laid out like the CVPR template: `pages` pages of body text (each repeats the
    sections), a title across the top of page 1, body in `columns` columns. `references_page`
    and `blank_page` add a page holding only the references / nothing after the content."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=pagesize, encrypt=password, invariant=1)
    width, height = pagesize
    margin, gutter = 54.0, 22.0
    col_w = (width - 2 * margin - gutter * (columns - 1)) / columns
    body_font, bold_font = ("Times-Roman", "Times-Bold") if language == "en" else (_korean_font(),) * 2
    chosen = sections if sections is not None else (ENGLISH if language == "en" else KOREAN)
    if not abstract:
        chosen = [s for s in chosen if s[0] not in ("Abstract", "초록")]

    def lay_out(parts: list[tuple[str, str]], first_page: bool) -> None:
        top = height - margin
        if first_page and title:
            c.setFont(bold_font, 14)
            c.drawCentredString(width / 2, top - 14, title)
            c.setFont(body_font, 11)
            c.drawCentredString(width / 2, top - 34, AUTHORS)
            top -= 64
        col, y = 0, top
        for heading, text in parts:
            lines = simpleSplit(text, body_font, 10, col_w)
            for i, line in enumerate([None, *lines]):
                if y < margin + 12:
                    col, y = col + 1, top
                    if col == columns:
                        return  # the page is full: the rest of the text is cut, as a 1-page limit would
                x = margin + col * (col_w + gutter)
                if line is None:
                    c.setFont(bold_font, 12 if heading in ("Abstract", "초록") else 11)
                    if heading in ("Abstract", "초록"):
                        c.drawCentredString(x + col_w / 2, y - 12, heading)
                    else:
                        c.drawString(x, y - 12, heading)
                    y -= 18
                else:
                    c.setFont(body_font, 10)
                    c.drawString(x, y - 10, line)
                    y -= 12
            y -= 6

    for page in range(pages):
        lay_out(chosen * 6, first_page=page == 0)  # repeated until the page is full
        c.showPage()
    if references_page:
        lay_out([REFERENCES], first_page=False)
        c.showPage()
    if blank_page:
        c.showPage()
    c.save()
    return buf.getvalue()


def scanned_pdf() -> bytes:
    """One page that is only a picture of text, as a scanner or a phone photo gives."""
    from PIL import Image, ImageDraw
    from reportlab.lib.utils import ImageReader

    image = Image.new("L", (850, 1100), 255)
    draw = ImageDraw.Draw(image)
    for i, (heading, text) in enumerate(ENGLISH):
        draw.text((60, 80 + i * 180), heading, fill=0)
        for j, line in enumerate(simpleSplit(text, "Times-Roman", 10, 500)[:8]):
            draw.text((60, 100 + i * 180 + j * 16), line, fill=0)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.drawImage(ImageReader(image), 0, 0, width=letter[0], height=letter[1])
    c.showPage()
    c.save()
    return buf.getvalue()


def malformed_pdf() -> bytes:
    """A PDF header, then the first third of a real report and garbage: no xref, no trailer."""
    real = report_pdf()
    return real[: len(real) // 3] + bytes(range(256)) * 8


def raw_pdf(objects: list[bytes], *, root: int = 1) -> bytes:
    """A PDF written by hand: `objects` are the bodies of objects 1..n, the xref is computed."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"", *, flate: bool = False) -> bytes:
    if flate:
        data = zlib.compress(data, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


_PAGE_OBJECTS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
    b"/Resources << /Font << /F1 5 0 R >> >> >>",
]
_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>"


def padded_pdf(size: int) -> bytes:
    """A valid one-page PDF of `size` bytes: a line of text and an unreferenced stream of random
    bytes (which no compression shrinks) making up the rest."""
    text = _stream(b"BT /F1 12 Tf 72 700 Td (A report with a large attachment.) Tj ET")
    padding = max(0, size - len(raw_pdf([*_PAGE_OBJECTS, text, _FONT, _stream(b"")])))
    for _ in range(3):  # the Length and startxref numbers grow with the padding: settle them
        data = raw_pdf([*_PAGE_OBJECTS, text, _FONT, _stream(os.urandom(padding))])
        padding = max(0, padding + size - len(data))
    return data


def content_bomb_pdf(repeats: int = 40_000_000) -> bytes:
    """A page whose compressed content stream is about 1 MB and expands to `repeats` copies of a
    short text-drawing operator sequence (hundreds of MB): every reader must decompress it and
    lay out every glyph before it has the page's text. The parse runs past any sane time or
    memory limit; what matters is that the limit, not the caller, pays."""
    unit = b"BT /F1 1 Tf 9 9 Td (ab) Tj ET\n"
    compressor = zlib.compressobj(9)
    chunk = unit * 100_000
    body = bytearray()
    for _ in range(repeats // 100_000):
        body += compressor.compress(chunk)
    body += compressor.flush()
    content = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + bytes(body) + b"\nendstream"
    return raw_pdf([*_PAGE_OBJECTS, content, _FONT])


def shading_bomb_pdf(operations: int = 200_000) -> bytes:
    """A page painted by one function-based shading whose colour is a PostScript calculator
    function of `operations` operators: small to store (it compresses to a few KB) and
    small in memory, but a renderer evaluates it once per pixel, so drawing the page costs
    about a hundred billion operations: the page never finishes rendering."""
    body = b"{ pop " + b"dup mul " * operations + b"}"
    function = _stream(body, b" /FunctionType 4 /Domain [0 1 0 1] /Range [0 1]", flate=True)
    shading = b"<< /ShadingType 1 /ColorSpace /DeviceGray /Domain [0 1 0 1] /Matrix [612 0 0 792 0 0] /Function 6 0 R >>"
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> /Shading << /Sh0 7 0 R >> >> >>")
    content = _stream(b"BT /F1 12 Tf 72 700 Td (A report with a background.) Tj ET /Sh0 sh", flate=True)
    return raw_pdf([_PAGE_OBJECTS[0], _PAGE_OBJECTS[1], page, content, _FONT, function, shading])


def empty_pdf() -> bytes:
    """A well-formed PDF with a page tree of no pages."""
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


def lying_count_pdf() -> bytes:
    """One real page under a page tree that claims ten million."""
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 10000000 >>",
                    _PAGE_OBJECTS[2], _stream(b"BT /F1 12 Tf 72 700 Td (One real page.) Tj ET"), _FONT])


def deep_tree_pdf(depth: int = 50_000) -> bytes:
    """One page at the bottom of a page tree nested `depth` levels deep (5 MB)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for i in range(depth):
        parent = b"/Parent %d 0 R " % (i + 1) if i else b""
        objects.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 %s>>" % (i + 3, parent))
    objects.append(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] >>" % (depth + 1))
    return raw_pdf(objects)


def wide_tree_pdf(pages: int = 300_000) -> bytes:
    """`pages` real, empty pages in one flat page tree (32 MB)."""
    kids = b" ".join(b"%d 0 R" % (i + 3) for i in range(pages))
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
                    *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"] * pages])


def nested_arrays_pdf(depth: int = 200_000) -> bytes:
    """A page whose dictionary holds an array nested `depth` deep (a recursive parser's stack)."""
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /X " + b"[" * depth + b"]" * depth + b" >>"])
