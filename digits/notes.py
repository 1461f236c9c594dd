"""Notes and tags on runs and versions, editable after the fact and searchable.

Kept apart from what they annotate (`<store>/notes/<runs|versions>/<id>.json`), so the shipped
default can carry notes too and a version's files stay exactly as training wrote them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field

from digits.store import ModelStore, StoreError, validate_version_id

KINDS = ("runs", "versions")
MAX_NOTE_CHARS = 5_000


@dataclass(frozen=True)
class Notes:
    note: str = ""
    tags: list[str] = field(default_factory=list)


def parse_tags(text: str) -> list[str]:
    """"baseline, 4-vs-9 quick" -> ["baseline", "4-vs-9", "quick"]: commas or spaces, no repeats."""
    return list(dict.fromkeys(tag.lower() for tag in re.split(r"[\s,;]+", text.strip()) if tag))


def _path(store: ModelStore, kind: str, item_id: str):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    return store.root / "notes" / kind / f"{validate_version_id(item_id)}.json"


def read_notes(store: ModelStore, kind: str, item_id: str) -> Notes:
    try:
        data = json.loads(_path(store, kind, item_id).read_text())
        return Notes(str(data.get("note", "")), [str(tag) for tag in data.get("tags", [])])
    except (OSError, ValueError, AttributeError):
        return Notes()


def write_notes(store: ModelStore, kind: str, item_id: str, note: str, tags: list[str]) -> Notes:
    """Replace the notes of a run or version in one step; StoreError when too long or unwritable."""
    if len(note) > MAX_NOTE_CHARS:
        raise StoreError(f"the note has {len(note):,} characters; at most {MAX_NOTE_CHARS:,}")
    path = _path(store, kind, item_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        with os.fdopen(fd, "w") as handle:
            json.dump({"note": note, "tags": tags}, handle)
        os.replace(tmp, path)
    except OSError as err:
        raise StoreError(f"could not save the notes of {item_id!r}: {err.strerror or err}") from err
    return Notes(note, tags)


def delete_notes(store: ModelStore, kind: str, item_id: str) -> None:
    _path(store, kind, item_id).unlink(missing_ok=True)
