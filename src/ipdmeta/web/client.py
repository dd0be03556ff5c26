"""Driving the web app from a script: ``running_server`` starts ``ipdmeta review serve``
in its own process on a free loopback port, and ``Client`` speaks the JSON API over one
keep-alive connection with the session cookie and CSRF token (standard library only).
The tests and the latency benchmark use both; a team can use them to post decisions
from a script."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

__all__ = ["Client", "free_port", "running_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    """One browser-like client of the server: its own connection, cookie and token."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""
        self.csrf = ""

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        raw = response.read()
        for value in response.headers.get_all("set-cookie") or []:
            morsel = next(iter(SimpleCookie(value).values()))
            self.cookie = f"{morsel.key}={morsel.value}"
        kind = response.headers.get("content-type", "")
        return response.status, json.loads(raw) if "json" in kind and raw else raw

    def sign_in(self, name: str, password: str) -> None:
        status, body = self.request("POST", "/api/session", {"name": name, "password": password})
        if status != 200:
            raise RuntimeError(f"sign-in failed: {status} {body}")
        self.csrf = body["csrf_token"]

    def close(self) -> None:
        self.connection.close()


def _up(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/login")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


@contextmanager
def running_server(folder: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ipdmeta",
            "review",
            "serve",
            str(folder),
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not _up(port):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, err = process.communicate(timeout=5)
                raise RuntimeError(f"the server did not start: {err.decode()[-2000:]}")
            time.sleep(0.1)
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
