"""Broken servers on loopback, through s3cache.Cache: a call ends within its deadline, sends a
handful of requests, follows no redirect, and says what happened in one clean line."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator, List, Tuple

import pytest

import s3cache

SECRET = "bounds-secret-never-shown"
TOKEN = "bounds-session-token-never-sent-elsewhere"
# Starting the component is not part of a call: the cache is opened before the clock starts.
SLACK = 1.0

Reply = Tuple[int, List[Tuple[str, str]], bytes]


class FaultServer:
    """An HTTP server whose `answer` decides each reply; None means never answer."""

    def __init__(self, answer: Callable[[str, str, dict], "Reply | None"]) -> None:
        self.requests: List[Tuple[str, str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                server.requests.append((self.command, self.path, headers))
                reply = answer(self.command, self.path, headers)
                if reply is None:
                    time.sleep(30)
                    return
                status, reply_headers, body = reply
                self.send_response(status)
                for name, value in reply_headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = handle_one

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.http.server_address[1]}"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    started: List[FaultServer] = []

    def start(answer) -> FaultServer:
        server = FaultServer(answer)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def error(status: int, code: str, message: str = "scripted") -> Reply:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return status, [("content-type", "application/xml")], body


def cache_at(server: FaultServer, **settings) -> s3cache.Cache:
    cache = s3cache.Cache(
        "bounds",
        endpoint=server.endpoint,
        access_key_id="AKIDBOUNDS",
        secret_access_key=SECRET,
        session_token=TOKEN,
        location="f",
        **settings,
    )
    # Open the store (and compile the component) before any call is timed.
    assert cache._store is not None
    return cache


def one_clean_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "\x1b" not in text, repr(text)
    assert SECRET not in text and TOKEN not in text
    return text


def test_a_server_that_never_answers_ends_the_call_at_the_deadline(fault_server):
    server = fault_server(lambda method, path, headers: None)
    cache = cache_at(server, deadline=1)
    started = time.monotonic()
    with pytest.raises(s3cache.Unavailable) as raised:
        cache.get("k")
    took = time.monotonic() - started
    assert 1 <= took < 1 + SLACK, took
    assert "within the deadline (1 s)" in one_clean_line(raised.value)


def test_a_storm_of_server_errors_costs_a_few_requests_per_call(fault_server):
    def answer(method, path, headers):
        if method == "PUT":
            return error(500, "InternalError", "line one\nline two \x1b[31m")
        return error(404, "NoSuchKey")

    server = fault_server(answer)
    cache = cache_at(server, max_entries=None)
    # add writes conditionally (a read and a write per attempt, and a last read); set does not.
    for call, most in ((lambda: cache.add("k", b"v"), 7), (lambda: cache.set("k", b"v"), 3)):
        before = len(server.requests)
        started = time.monotonic()
        with pytest.raises(s3cache.Unavailable) as raised:
            call()
        assert time.monotonic() - started < 2 + SLACK
        assert len(server.requests) - before <= most, server.requests[before:]
        assert "InternalError: line one line two [31m" in one_clean_line(raised.value)


def test_redirects_are_not_followed_and_carry_nothing_elsewhere(fault_server):
    elsewhere = fault_server(lambda method, path, headers: (200, [], b"stolen"))
    target = f"{elsewhere.endpoint}/bounds/x"
    server = fault_server(lambda method, path, headers: (307, [("location", target)], b""))
    cache = cache_at(server)
    for call in (lambda: cache.get("k"), lambda: cache.has_key("k")):
        with pytest.raises(s3cache.InvalidConfig) as raised:
            call()
        assert f"the server points to {target}, not followed" in one_clean_line(raised.value)
    assert elsewhere.requests == []
