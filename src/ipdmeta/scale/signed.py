"""JSON files that carry a checksum of their own content: a federated plan and the site
summaries made for it. A file changed by hand, or damaged on the way, is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ipdmeta.data.writers import write_text
from ipdmeta.errors import DataError

CHECKSUM = "checksum"


def canonical(body: dict[str, Any]) -> str:
    """One text for one content: sorted keys, no spaces; floats as Python writes them,
    which read back as the same doubles."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)


def checksum(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def write_signed(path: Path, body: dict[str, Any]) -> Path:
    """Write ``body`` and its checksum to ``path`` (atomically)."""
    signed = {**body, CHECKSUM: checksum(body)}
    return write_text(path, json.dumps(signed, indent=1, sort_keys=True, allow_nan=False) + "\n")


def read_signed(path: Path, kind: str, what: str) -> dict[str, Any]:
    """The content of a signed file of ``kind`` (its ``kind`` field); ``what`` names it in
    messages ("the plan", "the summary"). A wrong checksum is refused."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file ({what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {what} ({exc})") from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise DataError(f"{path}: this is not {what} (its kind is {found!r}, not {kind!r})")
    stated = payload.pop(CHECKSUM, None)
    try:
        actual = checksum(payload)
    except ValueError:
        actual = None
    if stated != actual:
        raise DataError(
            f"{path}: {what} was changed after it was written (its checksum does not match "
            "its content); make it again rather than editing it"
        )
    return payload
