"""The year-end documents as a printer sees them: LibreOffice converts each .docx to PDF,
pdftoppm renders page 1, pdftotext reads the words back. Outside CI the test skips when
LibreOffice or poppler is missing; in CI (CI=true, .ci/run installs them) it must run."""

from __future__ import annotations

import shutil
import struct
import subprocess
import unicodedata
from pathlib import Path

import pytest
from matplotlib import image

from handlers.i18n import texts
from services import documents
from services.documents import DocumentFile
from tests.chair_data import sample_record
from tests.conftest import IN_CI

TOOLS = ("soffice", "pdftoppm", "pdftotext", "pdffonts")
# Times New Roman itself, or Liberation Serif (its metric twin on Debian): never a fallback
# font, which would mean some Vietnamese letters were missing from the font.
TIMES = ("TimesNewRoman", "LiberationSerif")


@pytest.fixture(scope="module")
def tools() -> None:
    missing = [name for name in TOOLS if shutil.which(name) is None]
    if missing:
        if IN_CI:
            pytest.fail(f"CI renders the documents: {', '.join(missing)} missing (.ci/run)")
        pytest.skip(f"{', '.join(missing)} not installed")


def run(*args: str | Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=180, check=True
    )
    return done.stdout


def render(made: DocumentFile, folder: Path) -> tuple[Path, Path]:
    """The PDF and page 1's PNG of a document."""
    source = folder / made.filename
    source.write_bytes(made.content)
    # A private profile: a LibreOffice already running (or another test) must not lock it.
    profile = (folder / "profile").as_uri()
    run(
        "soffice",
        f"-env:UserInstallation={profile}",
        "--headless",
        "--convert-to",
        "pdf",
        "--outdir",
        folder,
        source,
    )
    pdf = source.with_suffix(".pdf")
    run("pdftoppm", "-r", "60", "-f", "1", "-l", "1", "-png", "-singlefile", pdf, folder / "page1")
    return pdf, folder / "page1.png"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.parametrize("kind", ["minutes", "proposal"])
def test_each_document_renders_on_a4_with_its_vietnamese_headings(
    tools: None, tmp_path: Path, kind: str
) -> None:
    build = documents.minutes if kind == "minutes" else documents.proposal
    made = build(sample_record(), texts("vi"))

    pdf, png = render(made, tmp_path)

    width, height = png_size(png)
    # A4 at 60 dpi is 496 x 702 pixels (210 x 297 mm); poppler rounds up a pixel.
    assert abs(width - 496) <= 2 and abs(height - 702) <= 2, (width, height)
    ink = 1.0 - image.imread(png)[..., :3].mean()
    assert 0.01 < ink < 0.3, ink  # a page of text: neither blank nor black
    words = unicodedata.normalize("NFC", run("pdftotext", "-layout", pdf, "-"))
    lines = [" ".join(line.split()) for line in words.splitlines()]
    # The national title fits its column on one line, and no diacritic is lost.
    assert any(line.endswith("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM") for line in lines)
    assert any(line.endswith("Độc lập - Tự do - Hạnh phúc") for line in lines)
    heading = "BIÊN BẢN" if kind == "minutes" else "TỜ TRÌNH"
    assert heading in lines
    assert "Khánh Hòa" in words
    fonts = run("pdffonts", pdf).splitlines()[2:]
    assert fonts and all(any(name in f.split()[0] for name in TIMES) for f in fonts), fonts
