"""A local stand-in for an OpenAI-compatible endpoint, speaking the real HTTP protocol.

Tests drive the real `openai` client against it. It answers POST /v1/chat/completions
from a script (a queue), or from a `responder` function when the queue is empty:
chat.completion JSON in the real schema, error statuses with OpenAI's error body (429
with Retry-After, 500 ...), HTML pages, each after an optional delay. It records every
request it received (path, headers, JSON body) for assertions. When neither script nor
responder answers, it replies 500 with `x-should-retry: false`, so a test that makes one
call too many fails at once instead of retrying.

`usage` is measured as vLLM serving Qwen2.5-VL reports it, unless a script item fixes
the numbers: the request is laid out with Qwen's chat template and counted with Qwen's
tokenizer (each image as Qwen2.5-VL's 28x28-pixel tokens, keyed by the image's bytes),
and `prompt_tokens_details.cached_tokens` comes from a real prefix comparison: vLLM's
automatic prefix cache, 16-token blocks hashed in a chain, every earlier request's
blocks kept (an unbounded cache).

    with FakeOpenAI() as fake:
        fake.reply("```python\\nX = 1\\n```", prompt_tokens=900, completion_tokens=40)
        fake.error(429, headers={"Retry-After": "0"})
        client = openai.OpenAI(base_url=fake.base_url, api_key="x")
"""
from __future__ import annotations

import base64
import hashlib
import io
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
    prompt_tokens: int | None = None  # None: measured from the request (see the module's doc)
    completion_tokens: int | None = None  # None: measured from the reply
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
        self.site_html = False  # True: paths outside /v1 answer an HTML page with 200, as a web site does
        self.responder = None  # Callable[[Received], Scripted | None]: answers when the script is empty
        self.cache: set[int] = set()  # block hashes of the prefix cache
        self.measured: list[dict] = []  # per answered request: prompt, cached and completion tokens

    # --- the script -------------------------------------------------------------------
    def reply(self, *contents: str, finish_reason: str = "stop", prompt_tokens: int | None = None,
              completion_tokens: int | None = None, usage: bool = True, delay_s: float = 0.0) -> "FakeOpenAI":
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

    def html(self, status: int = 200, times: int = 1) -> "FakeOpenAI":
        """Queue an HTML page (what a web server or proxy answers when base_url lacks /v1)."""
        page = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body>It works!</body></html>"
        for _ in range(times):
            self.script.append(Scripted(status=status, body=page, headers={"Content-Type": "text/html; charset=utf-8"}))
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
                    if not any(k.lower() == "content-type" for k in headers):
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
            if self.site_html and not path.startswith("/v1/"):
                return Scripted(status=200, body=b"<!DOCTYPE html><html><body>Welcome</body></html>",
                                headers={"Content-Type": "text/html"})
            if path.rstrip("/") != "/v1/chat/completions":
                return Scripted(status=404, contents=[f"no route {path}"], headers={"x-should-retry": "false"})
            if self.script:
                return self.script.popleft()
            responder = self.responder
        answer = responder(self.requests[-1]) if responder else None
        if answer is None:
            return Scripted(status=500, contents=["fake: the script is exhausted (one call too many)"],
                            headers={"x-should-retry": "false"})
        return answer

    def _respond(self, item: Scripted, body: dict) -> tuple[int, dict[str, str], bytes]:
        if item.body is not None:
            return item.status, item.headers, item.body
        if item.status != 200:
            kind = {429: "rate_limit_exceeded", 401: "invalid_api_key", 404: "model_not_found",
                    400: "invalid_request_error"}.get(item.status, "server_error")
            error = {"error": {"message": item.contents[0] if item.contents else "", "type": kind,
                               "param": None, "code": kind}}
            return item.status, item.headers, json.dumps(error).encode()
        with self._lock:
            self._ids += 1
            ident = self._ids
        contents, finishes = list(item.contents), [item.finish_reason] * len(item.contents)
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        if cap and item.finish_reason == "stop":  # a server stops a reply at max_tokens: cut, finish_reason length
            enc = qwen()
            for i, c in enumerate(contents):
                ids = enc.encode(c, disallowed_special=())
                if len(ids) > cap:
                    contents[i], finishes[i] = enc.decode(ids[:cap]), "length"
        item = Scripted(**{**item.__dict__, "contents": contents})
        payload = {
            "id": f"chatcmpl-fake{ident}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "system_fingerprint": None,
            "choices": [{"index": i, "message": {"role": "assistant", "content": c, "refusal": None},
                         "logprobs": None, "finish_reason": finishes[i]}
                        for i, c in enumerate(item.contents)],
        }
        if item.usage:
            prompt, cached = self._prompt_usage(body) if item.prompt_tokens is None else (item.prompt_tokens, 0)
            completion = item.completion_tokens
            if completion is None:
                enc = qwen()
                completion = sum(len(enc.encode(c, disallowed_special=())) for c in item.contents)
            payload["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                "total_tokens": prompt + completion,
                                "prompt_tokens_details": {"cached_tokens": cached}}
            with self._lock:
                self.measured.append({"prompt": prompt, "cached": cached, "completion": completion})
        return 200, item.headers, json.dumps(payload).encode()

    # --- measuring as vLLM does -------------------------------------------------------
    def _prompt_usage(self, body: dict) -> tuple[int, int]:
        """(prompt tokens, cached tokens) of a request: Qwen's template and tokenizer, and the
        longest run of leading 16-token blocks already in the prefix cache."""
        ids = request_tokens(body)
        blocks, h = [], 0
        for i in range(0, len(ids) - len(ids) % BLOCK, BLOCK):
            h = hash((h, tuple(ids[i:i + BLOCK])))
            blocks.append(h)
        with self._lock:
            hit = 0
            while hit < len(blocks) and blocks[hit] in self.cache:
                hit += 1
            self.cache.update(blocks)
        return len(ids), min(hit * BLOCK, max(0, len(ids) - 1))  # vLLM always computes the last token


BLOCK = 16  # vLLM's default KV block size


def qwen():
    from stages.backends.vlm.tokens import qwen_encoding

    return qwen_encoding()


def _image_ids(url: str) -> list:
    """Qwen2.5-VL's tokens for an image: its size decides how many, its bytes what they are."""
    from PIL import Image

    from stages.backends.vlm.tokens import QWEN_SPECIALS, qwen_image_tokens

    data = base64.b64decode(url.split(",", 1)[1]) if url.startswith("data:") else url.encode()
    try:
        width, height = Image.open(io.BytesIO(data)).size
    except Exception:  # noqa: BLE001 - not an image: one token
        width, height = 28, 28
    digest = hashlib.sha256(data).hexdigest()[:16]
    n = qwen_image_tokens(width, height) - 2
    return [QWEN_SPECIALS["<|vision_start|>"]] + [("img", digest, i) for i in range(n)] + \
        [QWEN_SPECIALS["<|vision_end|>"]]


def request_tokens(body: dict) -> list:
    """A chat request as Qwen2.5-VL's chat template lays it out, as token ids."""
    from stages.backends.vlm.tokens import QWEN_SPECIALS

    enc = qwen()
    start, end = QWEN_SPECIALS["<|im_start|>"], QWEN_SPECIALS["<|im_end|>"]
    ids: list = []
    for m in body.get("messages", []):
        ids += [start] + enc.encode(f"{m.get('role', 'user')}\n", disallowed_special=())
        content = m.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        for part in parts:
            if part.get("type") == "image_url":
                ids += _image_ids(part["image_url"]["url"])
            else:
                ids += enc.encode(part.get("text", ""), disallowed_special=())
        ids += [end] + enc.encode("\n", disallowed_special=())
    return ids + [start] + enc.encode("assistant\n", disallowed_special=())
