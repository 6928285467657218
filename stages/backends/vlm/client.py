"""One image's connection to the VLM: the SDK call, its budgets, and the truth about it.

Everything a call can do wrong ends here as a BackendError with a kind, and is counted in
the image's VlmHealth: refused keys and missing models lose the endpoint at once; other
failures (timeouts, 5xx, HTML pages, replies cut off at max_tokens or stopped by a content
filter) lose it after `give_up_after` in a row. Once lost, no call is made for the image.
Budgets (calls, tokens, wall-clock seconds) are checked before a call; the wall-clock one
also shortens each call's timeout and retries, so a hanging endpoint holds an image at
most `budget_s`.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

from stages.backends.base import BackendError, BudgetExhausted
from stages.backends.vlm import errors, tokens
from stages.backends.vlm.config import OpenAIConfig
from stages.records import Usage, VlmFailure, VlmHealth


@dataclass
class Reply:
    texts: list[str]  # the usable choices' contents
    finish: list[str]  # every choice's finish_reason
    usage: Usage
    dropped: list[str] = field(default_factory=list)  # why choices were not usable
    max_tokens: int = 0


def read_key(cfg: OpenAIConfig) -> str:
    """The API key, read here in the worker: from `api_key_file`, else `api_key_env`."""
    if cfg.api_key_file:
        try:
            key = open(cfg.api_key_file, encoding="utf-8").read().strip()  # noqa: SIM115
        except OSError as exc:
            raise BackendError("config", f"cannot read the API key file {cfg.api_key_file}: "
                               f"{exc.strerror or exc}") from None
        if not key:
            raise BackendError("config", f"the API key file {cfg.api_key_file} is empty")
        return key
    if not cfg.api_key_env:
        return "unused"  # a local server that needs no key
    key = os.environ.get(cfg.api_key_env, "")
    if not key:
        raise BackendError("config", f"environment variable {cfg.api_key_env} is not set: it must hold the API key "
                           f"for {cfg.base_url} (or set api_key_file, or api_key_env: null for a server that needs "
                           "no key)")
    return key


class VlmClient:
    def __init__(self, cfg: OpenAIConfig, client: Any = None, usage: Usage | None = None,
                 health: VlmHealth | None = None):
        import openai

        self.cfg = cfg
        self.usage = usage or Usage()  # everything spent on this image so far
        self.health = health or VlmHealth()
        self.family = tokens.family_of(cfg.model, cfg.tokenizer)
        self.count = tokens.counter(self.family)
        if client is None:
            client = openai.OpenAI(base_url=cfg.base_url, api_key=read_key(cfg), timeout=cfg.timeout_s,
                                   max_retries=cfg.max_retries)
        self.client = client

    def close(self) -> None:
        self.client.close()

    def prompt_tokens(self, messages: list[dict]) -> int:
        return tokens.prompt_tokens(messages, self.count, self.family, self.cfg.image_detail)

    # --- before a call ------------------------------------------------------------------
    def _lose(self, failure: VlmFailure) -> None:
        if self.health.lost is None:
            self.health.lost = failure

    def check_open(self) -> None:
        """Raise BudgetExhausted when no call may be made for this image."""
        cfg, h, spent = self.cfg, self.health, self.usage
        if h.lost is None and h.failures_in_a_row >= cfg.give_up_after and h.last_failure is not None:
            self._lose(h.last_failure.model_copy(update={"message": f"{h.failures_in_a_row} failed calls in a row; "
                                                         f"last: {h.last_failure.message}"}))
        if h.wall_s >= cfg.budget_s:
            if h.failures_in_a_row and h.last_failure is not None:
                self._lose(h.last_failure.model_copy(update={"message": f"the VLM time budget of {cfg.budget_s:g} s "
                                                             f"ran out while it failed; last: {h.last_failure.message}"}))
            else:
                raise BudgetExhausted(f"VLM time budget spent: {h.wall_s:.0f} of {cfg.budget_s:g} s for this image")
        if h.lost is not None:
            raise BudgetExhausted(f"the VLM is lost for this image ({h.lost.kind}: {h.lost.message}); "
                                  "no more calls")
        if spent.calls >= cfg.budget_calls:
            raise BudgetExhausted(f"call budget spent: {spent.calls} of {cfg.budget_calls} calls for this image")
        if spent.tokens >= cfg.budget_tokens:
            raise BudgetExhausted(f"token budget spent: {spent.tokens} of {cfg.budget_tokens} tokens for this image")

    def cap(self, messages: list[dict], wanted: int) -> int:
        """max_tokens for this call: what the work needs, within the reply cap, the image's
        token budget and the model's context window."""
        cfg = self.cfg
        prompt = self.prompt_tokens(messages)
        cap = min(wanted, cfg.max_tokens, cfg.budget_tokens - self.usage.tokens - prompt)
        if cfg.context_tokens:
            cap = min(cap, cfg.context_tokens - prompt)
        if cap < cfg.min_reply_tokens:
            room = cfg.budget_tokens - self.usage.tokens
            raise BudgetExhausted(f"token budget nearly spent: {room} tokens left for this image (context "
                                  f"{cfg.context_tokens or 'unchecked'}), not enough for a prompt of ~{prompt} "
                                  f"and a reply of {cfg.min_reply_tokens}")
        return cap

    # --- the call ---------------------------------------------------------------------
    def _fail(self, err: BackendError, usage: Usage, where: str) -> BackendError:
        h = self.health
        h.calls_failed += 1
        h.failures_in_a_row += 1
        h.last_failure = VlmFailure(kind=errors.FAILURE_KINDS.get(err.kind, f"vlm_{err.kind}"), message=str(err),
                                    where=where)
        if err.kind in errors.FATAL:
            self._lose(h.last_failure)
        self.usage = self.usage + usage
        err.usage = usage
        return err

    def call(self, messages: list[dict], wanted_tokens: int, n: int = 1, where: str = "") -> Reply:
        """One chat completion with the SDK's retries; BackendError or BudgetExhausted if no usable reply."""
        import openai

        self.check_open()
        cfg = self.cfg
        cap = self.cap(messages, wanted_tokens)
        left = cfg.budget_s - self.health.wall_s
        timeout = min(cfg.timeout_s, left)
        retries = min(cfg.max_retries, max(0, math.floor(left / timeout) - 1))
        kwargs: dict[str, Any] = {cfg.max_tokens_param: cap}
        if cfg.temperature is not None:
            kwargs["temperature"] = cfg.temperature
        if n > 1:
            kwargs["n"] = n
        t0 = time.perf_counter()
        client = self.client.with_options(timeout=timeout, max_retries=retries)
        try:
            raw = client.chat.completions.with_raw_response.create(model=cfg.model, messages=messages, **kwargs)
        except openai.APIError as exc:
            latency = time.perf_counter() - t0
            self.health.wall_s += latency
            raise self._fail(errors.from_sdk(exc, cfg, timeout),
                             Usage(calls=1, latency_s=latency, retries=errors.retries_of(exc)), where) from None
        latency = time.perf_counter() - t0
        self.health.wall_s += latency
        usage = Usage(calls=1, latency_s=latency, retries=raw.retries_taken)
        http = raw.http_response
        try:
            completion = raw.parse()
            choices = list(completion.choices or [])
        except (ValueError, TypeError, AttributeError) as exc:
            completion, choices = None, []
            why = f"the response is not a chat completion ({type(exc).__name__}: {str(exc)[:200]})"
        else:
            why = "the response has no choices"
        if not choices:
            raise self._fail(errors.unusable_body(cfg, http.headers.get("content-type", ""), http.text[:200],
                                                  http.status_code, why), usage, where)
        u = getattr(completion, "usage", None)
        texts = [c.message.content or "" for c in choices]
        details = getattr(u, "prompt_tokens_details", None) if u else None
        usage = usage.model_copy(update=dict(
            prompt_tokens=u.prompt_tokens if u else self.prompt_tokens(messages),
            completion_tokens=u.completion_tokens if u else sum(self.count(t) for t in texts),
            cached_tokens=(getattr(details, "cached_tokens", None) or 0) if details else 0))
        finish = [c.finish_reason or "?" for c in choices]
        usable, dropped = [], []
        for text, reason in zip(texts, finish):
            if reason == "length":
                dropped.append(f"the reply was cut off at {cap} tokens (finish_reason: length) before it ended")
            elif reason == "content_filter":
                dropped.append("the provider's content filter stopped the reply (finish_reason: content_filter)")
            else:
                usable.append(text)
        if not usable:
            kind = "cut_off" if "length" in finish else "content_filter"
            reasons = "; ".join(dict.fromkeys(dropped))
            raise self._fail(BackendError(kind, f"{cfg.model}: {reasons}"), usage, where)
        self.usage = self.usage + usage
        self.health.calls_ok += 1
        self.health.failures_in_a_row = 0
        return Reply(texts=usable, finish=finish, usage=usage, dropped=dropped, max_tokens=cap)
