"""Settings of the `openai` backend (the `reconstruct.openai` section of a config)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OpenAIConfig(BaseModel):
    """Budgets are per image (the pipeline makes a backend per image, or per image task
    and hands it what the image already spent)."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = Field("https://api.openai.com/v1", description="any OpenAI-compatible endpoint, ending in /v1")
    model: str = Field(..., min_length=1)
    api_key_env: str | None = Field("OPENAI_API_KEY",
                                    description="env var holding the key; null: no key (a local server)")
    api_key_file: str | None = Field(None, description="a file holding the key (a mounted Secret); wins over "
                                     "api_key_env. Either way the worker reads it: keys never travel with tasks")
    timeout_s: float = Field(120.0, gt=0, description="per request attempt")
    max_retries: int = Field(3, ge=0, le=10, description="SDK retries on 429, 5xx, timeouts, connection errors")
    give_up_after: int = Field(3, ge=1, description="failed calls in a row before the endpoint is taken as down "
                               "for the image (errors, HTML pages, cut-off or filtered replies)")
    budget_s: float = Field(900.0, gt=0, description="wall-clock seconds of VLM calls per image, retries included: "
                            "a hanging endpoint holds an image no longer than this (and one call's back-off)")
    offline_fallback: bool = Field(False, description="when the VLM is lost for an image: false, the image fails "
                                   "with the VLM's error kind; true, the offline tuner runs its remaining rounds "
                                   "and the image is marked degraded")
    max_tokens: int = Field(8192, ge=16, description="the most a reply may hold; each call asks for what its "
                            "work needs (a whole section, counted with the model's tokenizer), up to this")
    verifier_max_tokens: int = Field(1024, ge=16, description="reply cap of a verifier call")
    reply_headroom_tokens: int = Field(1024, ge=0, description="tokens allowed beyond a whole section for the "
                                       "model's short reasoning before its code")
    context_tokens: int | None = Field(None, ge=1024, description="the model's context window (vLLM's "
                                       "max_model_len): prompt + max_tokens is kept inside it; null: not checked")
    tokenizer: Literal["auto", "qwen", "estimate"] = Field(
        "auto", description="auto: Qwen's BPE for Qwen models, else a conservative estimate")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="newer OpenAI models want max_completion_tokens")
    min_reply_tokens: int = Field(256, ge=1, description="below this many tokens left, no call is made")
    temperature: float | None = Field(0.2, ge=0, le=2, description="null: the server's default")
    budget_calls: int = Field(60, ge=1, description="VLM calls per image")
    budget_tokens: int = Field(1_000_000, ge=1, description="prompt + completion tokens per image")
    image_detail: Literal["auto", "low", "high"] = "auto"
    image_max_side: int = Field(768, ge=32, le=4096, description="images are shrunk to this long side before sending")
    candidates: int = Field(1, ge=1, le=8, description="choices asked per round (the `n` parameter)")
    initial: Literal["offline", "vlm"] = Field(
        "offline", description="offline: classical vision first, the VLM refines each stage; vlm: the VLM writes "
        "all four sections at once (falls back to offline if its program fails validation)")
    max_discrepancies: int = Field(5, ge=1, le=20)
    prompts_dir: str | None = Field(None, description="folder of prompt templates; default: the repository's prompts/")
