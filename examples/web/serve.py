"""Serve the demo front end on its own origin: `python examples/web/serve.py --port 3000 --api URL`.

A static file server (Python's standard library only) with what a single-page front end needs:
the page itself for its routes (`/verify-email`, `/confirm-email`, ...), `/config.js` naming the
API's address, and a Content-Security-Policy that lets the page talk to that API and nothing else.
"""

import argparse
import contextlib
import json
import ssl
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
FILES = {"/index.html", "/app.js", "/style.css"}


class DemoHandler(SimpleHTTPRequestHandler):
    api = "http://localhost:8001"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(ROOT), **kwargs)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/config.js":
            self._send(b"window.DEMO_CONFIG = " + json.dumps({"api": self.api}).encode() + b";\n", "text/javascript")
            return
        if path not in FILES:
            self.path = "/index.html"  # every route of the page is the page
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'self'; connect-src {self.api}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        )
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the API's log is the one worth reading


def make_server(
    port: int, api: str, host: str = "localhost", certfile: str | None = None, keyfile: str | None = None
) -> ThreadingHTTPServer:
    """The demo's server; with `certfile` (and `keyfile`) it speaks HTTPS."""
    handler = type("Handler", (DemoHandler,), {"api": api.rstrip("/")})
    server = ThreadingHTTPServer((host, port), partial(handler))
    if certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, keyfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def serve_in_background(port: int, api: str) -> ThreadingHTTPServer:
    """Start a server in a daemon thread (for tests); stop it with `.shutdown()`."""
    server = make_server(port, api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--api", default="http://localhost:8001", help="the API's origin")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM), if not in --certfile")
    options = parser.parse_args()
    server = make_server(options.port, options.api, certfile=options.certfile, keyfile=options.keyfile)
    scheme = "https" if options.certfile else "http"
    sys.stdout.write(f"Demo front end on {scheme}://localhost:{options.port}/ (API: {options.api})\n")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
