"""The review before extraction: a store of search records, imports and (to come)
deduplication, screening, agreement and PRISMA counts."""

from ipdmeta.review.imports import ImportResult, import_file
from ipdmeta.review.store import ReviewStore, StoreError, create_store, open_store

__all__ = ["ImportResult", "ReviewStore", "StoreError", "create_store", "import_file", "open_store"]
