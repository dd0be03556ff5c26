"""Full texts attached to records: PDFs only, up to the app's size limit, stored in the
review folder's ``fulltext/`` under names the app makes (record id and content hash), so
no client-given name ever reaches the file system."""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse

from ipdmeta.web.auth import User
from ipdmeta.web.errors import ClientError
from ipdmeta.web.state import AppState

__all__ = ["FOLDER", "read_upload", "send", "store_upload"]

FOLDER = "fulltext"
_CHUNK = 1024 * 1024


async def read_upload(request: Request, state: AppState) -> FormData:
    """The upload form, after checking its declared size and kind (the file itself is
    checked while it is stored)."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise ClientError(411, "give the upload's length (Content-Length)")
    if int(declared) > state.max_upload + 64 * 1024:  # the form's own bytes beside the file
        raise ClientError(413, f"a full text is at most {state.max_upload // 2**20} MB")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ClientError(422, "send the PDF as a form upload (multipart/form-data, field 'file')")
    try:
        return await request.form(max_files=1, max_fields=5)
    except Exception as exc:  # the multipart parser's own errors: a malformed upload
        raise ClientError(422, f"the upload could not be read ({type(exc).__name__})") from None


async def store_upload(form: FormData, state: AppState, user: User, record: int) -> dict[str, Any]:
    """Store the form's PDF as ``record``'s full text."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ClientError(422, "the form has no file (field 'file')")
    digest = hashlib.sha256()
    size = 0
    folder = state.folder / FOLDER
    folder.mkdir(exist_ok=True)
    partial = folder / f".upload-{secrets.token_hex(8)}.part"
    try:
        with partial.open("wb") as out:
            first = b""
            while chunk := await upload.read(_CHUNK):
                if not first:
                    first = chunk[:5]
                size += len(chunk)
                if size > state.max_upload:
                    raise ClientError(413, f"a full text is at most {state.max_upload // 2**20} MB")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if first != b"%PDF-":
            raise ClientError(415, "a full text is a PDF (the file does not start with %PDF-)")
        name = f"record-{record}-{digest.hexdigest()[:16]}.pdf"
        partial.replace(folder / name)
    finally:
        partial.unlink(missing_ok=True)
        await form.close()
    original = (upload.filename or "")[:200] or None
    with state.writing() as store:
        store.add_fulltext(record, name, digest.hexdigest(), size, original, user.id)
    return {"record_id": record, "size": size, "sha256": digest.hexdigest()}


def send(state: AppState, record: int) -> FileResponse:
    found = state.store.fulltext(record)
    if found is None:
        raise ClientError(404, f"record {record} has no full text attached")
    path = state.folder / FOLDER / found["file_name"]
    if not path.is_file():
        raise ClientError(404, f"the full text of record {record} is missing from {FOLDER}/")
    return FileResponse(
        path,
        media_type="application/pdf",
        content_disposition_type="inline",
        filename=f"record-{record}.pdf",
    )
