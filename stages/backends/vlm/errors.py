"""What went wrong with a call, named: the SDK's exceptions and unusable bodies become a
BackendError with a kind the round records, and the VLM failure kind the results use."""
from __future__ import annotations

from stages.backends.base import BackendError
from stages.backends.vlm.config import OpenAIConfig

# BackendError kind of a failed call -> the image's failure kind in results and alerts
FAILURE_KINDS = {
    "auth": "vlm_auth", "model_missing": "vlm_model_missing", "timeout": "vlm_unreachable",
    "connection": "vlm_unreachable", "server": "vlm_server", "rate_limit": "vlm_rate_limit",
    "bad_endpoint": "vlm_bad_endpoint", "bad_request": "vlm_bad_request", "bad_reply": "vlm_bad_reply",
    "cut_off": "vlm_cut_off", "content_filter": "vlm_content_filter",
}
FATAL = ("auth", "model_missing")  # no retry and no later call can fix these: the endpoint is lost at once


def retries_of(exc: Exception) -> int:
    """Retries the SDK took before giving up: it stamps each attempt's request with them."""
    request = getattr(exc, "request", None)
    try:
        return int(request.headers.get("x-stainless-retry-count", 0)) if request is not None else 0
    except (TypeError, ValueError):
        return 0


def from_sdk(exc: Exception, cfg: OpenAIConfig, timeout_s: float) -> BackendError:
    """Map an SDK error (after its retries) to a BackendError with a clear kind."""
    import openai

    where = f"{cfg.model} at {cfg.base_url}"
    tries = f"after {retries_of(exc) + 1} attempt(s)"
    if isinstance(exc, openai.APITimeoutError):
        return BackendError("timeout", f"{where}: no reply within {timeout_s:g} s, {tries}", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return BackendError("connection", f"{where}: cannot connect ({exc.__cause__ or exc}), {tries}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status, detail = exc.status_code, str(exc)[:300]
        if _is_html(exc.response.headers.get("content-type", ""), exc.response.text[:200]):
            return html_page(cfg, status)
        if status == 429:
            return BackendError("rate_limit", f"{where}: rate limited (429), {tries}: {detail}", retryable=True)
        if status >= 500:
            return BackendError("server", f"{where}: server error {status}, {tries}: {detail}", retryable=True)
        if status in (401, 403):
            key = f"the file {cfg.api_key_file}" if cfg.api_key_file else (cfg.api_key_env or "the key")
            return BackendError("auth", f"{where}: refused the API key ({status}); check {key}: {detail}")
        if status == 404:
            return BackendError("model_missing", f"{where}: not found (404): the model {cfg.model!r} is not "
                                "served there, or base_url is wrong: {detail}".replace("{detail}", detail))
        return BackendError("bad_request", f"{where}: request refused ({status}): {detail}")
    return BackendError("bad_reply", f"{where}: unusable response ({type(exc).__name__}: {str(exc)[:300]})")


def _is_html(content_type: str, head: str) -> bool:
    start = head.lstrip()[:15].lower()
    return "text/html" in content_type.lower() or start.startswith(("<!doctype", "<html"))


def html_page(cfg: OpenAIConfig, status: int) -> BackendError:
    hint = ("an OpenAI-compatible base_url usually ends in /v1 (e.g. http://host:8000/v1)"
            if not cfg.base_url.rstrip("/").endswith("/v1") else
            "is a proxy or login page in front of the API?")
    return BackendError("bad_endpoint", f"{cfg.base_url} returned an HTML page (status {status}), not a chat "
                        f"completion: {hint}")


def unusable_body(cfg: OpenAIConfig, content_type: str, head: str, status: int, why: str) -> BackendError:
    """A 200 response that is not a chat completion: an HTML page is named as such."""
    if _is_html(content_type, head):
        return html_page(cfg, status)
    return BackendError("bad_reply", f"{cfg.model} at {cfg.base_url}: {why}")
