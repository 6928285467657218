"""A real S3 HTTP endpoint on 127.0.0.1 (moto's server), and a fault-injecting proxy.

The proxy forwards to moto and, speaking S3's own protocol, can
- answer 503 SlowDown to every `fail_every`-th request (botocore retries those);
- answer 403 AccessDenied to requests matching `deny` (a predicate on method and path),
  as a bucket policy or expired credentials would;
- `stall`: accept the request and never answer (an endpoint that hangs), until cleared.
"""
from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from moto.server import ThreadedMotoServer


class MotoS3:
    """moto keeps its buckets in process memory, shared by every server in the process:
    each MotoS3 starts from an empty store (moto's own reset API)."""

    def __init__(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.reset()

    def reset(self):
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30)

    def stop(self):
        self.reset()
        self.server.stop()


class FaultyProxy:
    def __init__(self, upstream: str, fail_every: int = 4):
        self.upstream = upstream.removeprefix("http://")
        self.fail_every = fail_every
        self.count = 0
        self.injected = 0
        self.denied = 0
        self.stalled = 0
        self.deny = None  # callable(method, path) -> bool
        self.stall = threading.Event()  # set: hold every request unanswered
        self._released = threading.Event()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers `Expect: 100-continue`, which botocore sends on PUT

            def log_message(self, *a):
                pass

            def _error(self, status: int, code: str):
                msg = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.stall.is_set():
                    with proxy.lock:
                        proxy.stalled += 1
                    proxy._released.wait()  # never answers while stalled; the client gives up
                    self.close_connection = True
                    return
                deny = proxy.deny is not None and proxy.deny(self.command, self.path)
                if deny:
                    with proxy.lock:
                        proxy.denied += 1
                    self._error(403, "AccessDenied")
                    return
                with proxy.lock:
                    proxy.count += 1
                    fail = proxy.fail_every and proxy.count % proxy.fail_every == 0
                    proxy.injected += bool(fail)
                if fail:
                    msg = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.upstream
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def start_stall(self):
        self._released.clear()
        self.stall.set()

    def end_stall(self):
        self.stall.clear()
        self._released.set()

    def stop(self):
        self.end_stall()
        self.httpd.shutdown()
