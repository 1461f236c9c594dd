"""Samples in and out as a zip: PNG files + labels.csv (columns file,label,writer; on import the
writer column is optional). An import is checked row by row (PNG or JPEG only, labels 0-9, a size
cap per image and per archive), bad rows are reported by line and skipped, and the good ones go in
as one transaction: all of them or none."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field

from digits.preprocessing import ImageError, prepare
from digits.samples import MAX_IMAGE_BYTES, SampleError, SampleStore, check_label, check_writer, png_bytes

MAX_ZIP_BYTES = 200_000_000          # an import archive
MAX_ZIP_MEMBERS = 20_000
LABELS_CSV = "labels.csv"


def export_zip(store: SampleStore, writer: str | None = None) -> bytes:
    """The samples (of one writer, or all) as a zip: NNNNNN.png files and labels.csv (file,label,writer)."""
    table = io.StringIO()
    out = csv.writer(table, lineterminator="\n")
    out.writerow(["file", "label", "writer"])
    buffer = io.BytesIO()
    samples = list(reversed(store.find(writer=writer)))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for start in range(0, len(samples), 500):  # a batch of images at a time: memory stays flat
            chunk = samples[start:start + 500]
            images = store.images(s.id for s in chunk)
            for sample in chunk:
                name = f"{sample.id:06d}.png"
                archive.writestr(name, images[sample.id])
                out.writerow([name, sample.label, sample.writer])
        archive.writestr(LABELS_CSV, table.getvalue())
    return buffer.getvalue()


@dataclass
class ImportReport:
    added: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # "line 7: ...", one per skipped row

    def summary(self) -> str:
        text = f"imported {len(self.added)} sample{'s' * (len(self.added) != 1)}"
        if self.problems:
            text += f"; skipped {len(self.problems)} bad row{'s' * (len(self.problems) != 1)}"
        return text


IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}


def read_import(raw: bytes, writer: str | None = None) -> tuple[list[dict], list[str]]:
    """Check a zip of images + labels.csv (file,label[,writer]) row by row: (the good rows as
    `add_many` takes them, 'line N: why' for each bad one). SampleError when the archive itself is
    unusable (too big, not a zip, no labels.csv, no header). `writer` overrides the column."""
    if len(raw) > MAX_ZIP_BYTES:
        raise SampleError(f"the archive is {len(raw) / 1e6:.0f} MB; at most {MAX_ZIP_BYTES // 1_000_000} MB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = {info.filename: info for info in archive.infolist() if not info.is_dir()}
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise SampleError(f"not a zip archive ({err})") from None
    if len(members) > MAX_ZIP_MEMBERS:
        raise SampleError(f"the archive holds {len(members)} files; at most {MAX_ZIP_MEMBERS}")
    if LABELS_CSV not in members:
        raise SampleError(f"the archive has no {LABELS_CSV} (columns file,label,writer; writer optional)")
    if members[LABELS_CSV].file_size > 20_000_000:
        raise SampleError(f"{LABELS_CSV} is too large")
    try:
        text = archive.read(LABELS_CSV).decode("utf-8-sig")
    except (UnicodeDecodeError, zipfile.BadZipFile, OSError) as err:
        raise SampleError(f"{LABELS_CSV} cannot be read as UTF-8 text ({err})") from None
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(reader, [])]
    if "file" not in header or "label" not in header:
        raise SampleError(f"{LABELS_CSV} needs a header line with the columns file,label (writer optional); "
                          f"it has {','.join(header) or 'nothing'}")
    column = {name: header.index(name) for name in ("file", "label", "writer") if name in header}
    override = check_writer(writer) if writer else None
    rows, problems = [], []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        try:
            rows.append(_import_row(archive, members, cells, column, override))
        except SampleError as err:
            problems.append(f"line {line}: {err}")
    return rows, problems


def _import_row(archive, members, cells, column, override) -> dict:
    def cell(name):
        return cells[column[name]].strip() if name in column and column[name] < len(cells) else ""

    name = cell("file")
    if not name:
        raise SampleError("no file name")
    if name not in members:
        raise SampleError(f"{name}: not in the archive")
    if members[name].file_size > MAX_IMAGE_BYTES:
        raise SampleError(f"{name}: {members[name].file_size:,} bytes; at most {MAX_IMAGE_BYTES:,} per image")
    label = check_label(cell("label"), digit_only=True)
    writer = override or check_writer(cell("writer") or None)
    raw = archive.read(name)
    if not any(raw.startswith(magic) for magic in IMAGE_MAGIC):
        raise SampleError(f"{name}: not a PNG or JPEG file")
    try:
        model_input = prepare(raw)
    except ImageError as err:  # its message starts "image: " for bytes, which have no file name
        raise SampleError(f"{name}: {str(err).removeprefix('image: ')}") from None
    if model_input is None:
        raise SampleError(f"{name}: no digit found in the image")
    return dict(image=raw if raw.startswith(b"\x89PNG") else png_bytes(raw), label=label, model_input=model_input,
                source="import", writer=writer)


def import_zip(store: SampleStore, raw: bytes, writer: str | None = None) -> ImportReport:
    """Import every good row of an archive in one transaction (all of them or, on any failure,
    none); bad rows are reported by line and skipped."""
    rows, problems = read_import(raw, writer)
    return ImportReport(store.add_many(rows) if rows else [], problems)
