"""``ipdmeta review serve``: the web app under uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from ipdmeta.review.store import StoreError

__all__ = ["is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise StoreError(f"--port is between 1 and 65535; got {args.port}")
    if not is_loopback(args.host):
        if not args.allow_remote:
            raise StoreError(
                f"--host {args.host} would let other machines reach the review: add "
                "--allow-remote to mean it, and put a TLS proxy in front of the app"
            )
        print(
            f"warning: serving on {args.host}, reachable from other machines. The app speaks "
            "plain HTTP: put a TLS proxy (nginx, Caddy) in front of it and use "
            "--secure-cookies.",
            file=sys.stderr,
        )
    import uvicorn

    from ipdmeta.web import create_app

    app = create_app(args.folder, secure_cookies=args.secure_cookies)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"ipdmeta review of {args.folder}: http://{shown}:{args.port}/ (Ctrl+C stops)", flush=True
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
