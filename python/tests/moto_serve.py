"""moto's server, with its writes made atomic as AWS S3 makes them.

moto checks `If-Match` / `If-None-Match` on PutObject and then stores the object in two steps
without a lock, so two concurrent conditional writes of one key can both succeed: one of them
is lost (seen as 159 of 160 increments under 16 concurrent writers). AWS applies a conditional
write atomically. moto also stores a new object before its metadata, so a read in between sees
the object without it. This launcher runs moto's own WSGI application behind one lock, a
request at a time, so every request sees whole objects and conditional writes are atomic, as
on S3. (moto is bound by Python's global interpreter lock anyway.)

Usage: python moto_serve.py HOST PORT
"""

from __future__ import annotations

import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class OneAtATime:
    """WSGI middleware: one request at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # moto answers with a list of bytes, so the whole reply is made under the lock.
            return list(self.app(environ, start_response))


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        OneAtATime(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
