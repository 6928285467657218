"""A local stand-in for an OpenAI-compatible endpoint, speaking the real HTTP protocol.

Tests drive the real `openai` client against it. It answers POST /v1/chat/completions
from a script (a queue): chat.completion JSON in the real schema, error statuses with
OpenAI's error body (429 with Retry-After, 500 ...), each after an optional delay. It
records every request it received (path, headers, JSON body) for assertions. When the
script is empty it answers 500 with `x-should-retry: false`, so a test that makes one
call too many fails at once instead of retrying.

    with FakeOpenAI() as fake:
        fake.reply("```python\\nX = 1\\n```", prompt_tokens=900, completion_tokens=40)
        fake.error(429, headers={"Retry-After": "0"})
        client = openai.OpenAI(base_url=fake.base_url, api_key="x")
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Scripted:
    status: int = 200
    contents: list[str] = field(default_factory=list)  # one per choice
    finish_reason: str = "stop"
    prompt_tokens: int = 100
    completion_tokens: int = 50
    usage: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: bytes | None = None  # a raw body overrides the generated one


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict
    time: float

    @property
    def texts(self) -> list[str]:
        """Every text part of every message."""
        out = []
        for msg in self.body.get("messages", []):
            content = msg.get("content")
            parts = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
            out += [p.get("text", "") for p in parts if p.get("type") == "text"]
        return out

    @property
    def prompt(self) -> str:
        return "\n".join(self.texts)

    @property
    def image_urls(self) -> list[str]:
        return [p["image_url"]["url"] for msg in self.body.get("messages", [])
                if isinstance(msg.get("content"), list)
                for p in msg["content"] if p.get("type") == "image_url"]


class FakeOpenAI:
    def __init__(self, model: str = "fake-vlm"):
        self.model = model
        self.script: deque[Scripted] = deque()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = 0

    # --- the script -------------------------------------------------------------------
    def reply(self, *contents: str, finish_reason: str = "stop", prompt_tokens: int = 100,
              completion_tokens: int = 50, usage: bool = True, delay_s: float = 0.0) -> "FakeOpenAI":
        """Queue a 200 reply with one choice per content."""
        self.script.append(Scripted(contents=list(contents), finish_reason=finish_reason, prompt_tokens=prompt_tokens,
                                    completion_tokens=completion_tokens, usage=usage, delay_s=delay_s))
        return self

    def error(self, status: int, message: str = "", headers: dict[str, str] | None = None,
              delay_s: float = 0.0, times: int = 1) -> "FakeOpenAI":
        """Queue `times` error replies with OpenAI's error body."""
        for _ in range(times):
            self.script.append(Scripted(status=status, headers=dict(headers or {}), delay_s=delay_s,
                                        contents=[message or f"fake error {status}"]))
        return self

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # --- serving ------------------------------------------------------------------------
    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                """GET /v1/models: the model list a client (or seig's pre-flight) asks for."""
                if self.path.rstrip("/") == "/v1/models":
                    status, payload = 200, json.dumps({"object": "list", "data": [
                        {"id": fake.model, "object": "model", "created": 0, "owned_by": "fake"}]}).encode()
                else:
                    status, payload = 404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                item = fake._take(self.path, dict(self.headers), body)
                if item.delay_s and fake._stop.wait(item.delay_s):
                    return  # shutting down
                status, headers, payload = fake._respond(item, body)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _take(self, path: str, headers: dict[str, str], body: dict) -> Scripted:
        with self._lock:
            self.requests.append(Received(path=path, headers={k.lower(): v for k, v in headers.items()},
                                          body=body, time=time.time()))
            if path.rstrip("/") != "/v1/chat/completions":
                return Scripted(status=404, contents=[f"no route {path}"], headers={"x-should-retry": "false"})
            if not self.script:
                return Scripted(status=500, contents=["fake: the script is exhausted (one call too many)"],
                                headers={"x-should-retry": "false"})
            return self.script.popleft()

    def _respond(self, item: Scripted, body: dict) -> tuple[int, dict[str, str], bytes]:
        if item.body is not None:
            return item.status, item.headers, item.body
        if item.status != 200:
            kind = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(item.status, "server_error")
            error = {"error": {"message": item.contents[0] if item.contents else "", "type": kind,
                               "param": None, "code": kind}}
            return item.status, item.headers, json.dumps(error).encode()
        with self._lock:
            self._ids += 1
            ident = self._ids
        payload = {
            "id": f"chatcmpl-fake{ident}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "system_fingerprint": None,
            "choices": [{"index": i, "message": {"role": "assistant", "content": c, "refusal": None},
                         "logprobs": None, "finish_reason": item.finish_reason}
                        for i, c in enumerate(item.contents)],
        }
        if item.usage:
            payload["usage"] = {"prompt_tokens": item.prompt_tokens, "completion_tokens": item.completion_tokens,
                                "total_tokens": item.prompt_tokens + item.completion_tokens}
        return 200, item.headers, json.dumps(payload).encode()
