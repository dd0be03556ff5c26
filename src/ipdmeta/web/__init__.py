"""The reviewers' web app (``ipdmeta review serve``): screening, conflicts and the
review's progress in a browser, over the review store."""

from ipdmeta.web.app import create_app

__all__ = ["create_app"]
