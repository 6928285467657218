"""The one registry of why an image failed: every error kind, what it means, whether a
rerun retries it, and what the operator does about it.

Why one registry: the driver's rerun policy, Ray's in-run retries, the summary, the
metrics' `kind` label, the alert rules and the runbook all speak about the same kinds.
Each of them reads this table (or a test compares it with this table), so they cannot
drift apart. Adding a kind is one `Kind(...)` line; adding an outcome (a results
`status` such as "degraded") is one `Outcome(...)` line.

- `transient`: the failure is not the image's fault (storage, the network, a lost
  worker, a job that stopped). Its row stays in the results until a rerun of the same
  run id replaces it with a fresh attempt. A deterministic failure (a corrupt photo) is
  final: a rerun keeps its row and does not try again.
- `retry_now`: Ray retries the task at once, within the run (`tasks.max_retries`).
  Only where an immediate retry can help (a blip); a denied credential or a missing
  bucket fails the image at once, so `run.max_consecutive_failures` stops the job fast.
- `alerts`: whether the failure counts in the failure-rate alerts (an invalid manifest
  row or an image never run because the job stopped is not an image that failed).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    meaning: str
    transient: bool
    action: str
    retry_now: bool = False
    alerts: bool = True


@dataclass(frozen=True)
class Outcome:
    """A value of the results' `status` column."""

    name: str
    meaning: str
    done: bool  # counts as finished: skipped by later runs (history) and kept by reruns


OUTCOMES: dict[str, Outcome] = {o.name: o for o in [
    Outcome("ok", "reconstructed; every artifact written, record.json last", done=True),
    Outcome("failed", "not reconstructed; error_kind says why", done=False),
    Outcome("degraded", "the VLM failed (error_kind says how) and reconstruct.openai.offline_fallback let the "
            "offline tuner finish: complete artifacts, not the VLM's work; redone by later runs", done=False),
]}

KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("manifest", "the manifest row is unusable (image_id null, empty, with '/', '.', '..' or over 512 "
         "characters; uri null or empty); or its focal_length_35mm is not in 8-300 mm or its camera_height_m "
         "not in 0.3-50 m (checked as the image runs, so each rerun tries that row again)", False,
         "fix the row in the manifest; a rerun of the same run id processes the fixed row", alerts=False),
    Kind("photo_missing", "no file at the photo's uri", False,
         "check the manifest's uris and that the photos were uploaded"),
    Kind("photo_empty", "the photo file is empty (0 bytes)", False, "re-upload the photo"),
    Kind("photo_not_an_image", "the file is not an image format Pillow reads (or is a folder)", False,
         "check what the manifest points to"),
    Kind("photo_corrupt", "the image is truncated or corrupt", False, "re-upload the photo"),
    Kind("photo_too_large", "over 64 megapixels (refused as a possible decompression bomb)", False,
         "downscale the photo"),
    Kind("photo_too_small", "under 16 pixels on a side", False, "nothing: too small to reconstruct"),
    Kind("photo_unreadable", "the photo's bytes could not be read (an I/O error other than the ones below)", True,
         "look at the message; a rerun retries it", retry_now=True),
    Kind("source_unreachable", "the photo's server or storage did not answer (connection refused, DNS, "
         "timeout)", True, "check the photo host or its endpoint; a rerun retries it", retry_now=True),
    Kind("source_denied", "access to the photo was denied (401/403)", True,
         "give the job's credentials read access to the photos; a rerun retries it"),
    Kind("storage_unreachable", "the output storage did not answer within run.storage_deadline_s, or "
         "refused the connection", True,
         "check the storage endpoint (S3/MinIO status, network, run.storage_options); a rerun retries it",
         retry_now=True),
    Kind("storage_denied", "the output storage refused a read or write (403, expired credentials, "
         "read-only path)", True,
         "fix the credentials or the bucket policy (AWS_*, the pod's role); a rerun retries it"),
    Kind("bucket_missing", "the output bucket does not exist", True,
         "create the bucket or fix run.output; a rerun retries it"),
    Kind("storage_full", "the output storage is full (no space, quota)", True,
         "free space or raise the quota; a rerun retries it"),
    Kind("vlm_unreachable", "the VLM endpoint failed after the client's own retries (connection, timeout, "
         "429, 5xx)", True, "check the endpoint's health, rate limits and quota; a rerun retries it",
         retry_now=True),
    Kind("vlm_server", "the VLM endpoint answered 5xx after the client's own retries", True,
         "check the model server's health and logs; a rerun retries it"),
    Kind("vlm_rate_limit", "the VLM endpoint answered 429 after the client's own retries", True,
         "lower run.max_in_flight or raise the endpoint's rate limit; a rerun retries it"),
    Kind("vlm_auth", "the VLM endpoint refused the API key (401/403)", True,
         "fix the key (reconstruct.openai.api_key_env or api_key_file, the pod's Secret); a rerun retries it"),
    Kind("vlm_model_missing", "the VLM endpoint does not serve reconstruct.openai.model (404)", True,
         "fix reconstruct.openai.model or base_url, or deploy the model; a rerun retries it"),
    Kind("vlm_bad_endpoint", "reconstruct.openai.base_url returned an HTML page, not the API", True,
         "fix base_url (an OpenAI-compatible one usually ends in /v1); a rerun retries it"),
    Kind("vlm_bad_request", "the VLM endpoint refused a request (400: too long for the context, an option "
         "it does not know)", False, "look at the message; check the model's context length and max_tokens"),
    Kind("vlm_bad_reply", "the VLM's replies were not usable chat completions", False,
         "look at the message; check the model server's version and chat template"),
    Kind("vlm_cut_off", "the VLM's replies were cut off at max_tokens", False,
         "raise reconstruct.openai.max_tokens, or use a model that follows the patch format"),
    Kind("vlm_content_filter", "the VLM's replies were stopped by its content filter", False,
         "look at the photo; nothing to do for the run"),
    Kind("vlm_error", "the VLM backend could not produce a program for another reason (the message says)", False,
         "look at the message and the record's rounds"),
    Kind("config", "a setting was rejected when the image ran", True,
         "fix the config named in the message; a rerun retries it"),
    Kind("no_render", "no program of the image rendered in a stage", False,
         "look at the record's round errors; Blender on the render nodes (GPU driver, kernel cache)"),
    Kind("blender_crash", "Blender's process died (killed, out of memory) while it rendered the image's first "
         "program, on every attempt", True,
         "the Blender panels (crashes, RSS) and the render pods' memory limits; a rerun retries it",
         retry_now=True),
    Kind("worker_lost", "the worker process running the image's task died (node lost, pod evicted, "
         "out-of-memory kill) more often than tasks.max_retries", True,
         "node events and memory limits (`kubectl describe`, `ray status`); a rerun retries it",
         retry_now=True),
    Kind("actor_lost", "the image's render actor died beyond actors.max_restarts", True,
         "the Blender panels (crashes, RSS) and the GPU pods' events; a rerun retries it", retry_now=True),
    Kind("aborted", "not run: the job stopped (run.max_consecutive_failures, or a resource shortfall) "
         "before this image finished", True, "fix the cause the summary names; a rerun retries it",
         alerts=False),
    Kind("internal", "an unexpected error in seig (a bug): the message has the exception", True,
         "report it with the message; a rerun retries it"),
]}

STORAGE_KINDS = ("storage_unreachable", "storage_denied", "bucket_missing", "storage_full")


def kind(name: str) -> Kind:
    """The registered kind; an unknown name is a bug in seig and reads as `internal`."""
    return KINDS.get(name) or KINDS["internal"]


def is_final(status: str | None, error_kind: str | None) -> bool:
    """Whether a rerun of the same run id keeps this row (True) or tries the image again."""
    outcome = OUTCOMES.get(status or "")
    if outcome is None:
        return False
    return outcome.done or not kind(error_kind or "internal").transient


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, one-line message) for an exception raised while an image ran."""
    import ray.exceptions as rex

    from pipeline.storage import StorageError, failure_kind
    from stages.backends.base import BackendError
    from stages.photo import PhotoError

    if isinstance(exc, rex.RayTaskError) and getattr(exc, "cause", None) is not None \
            and not isinstance(exc.cause, rex.RayError):
        return classify(exc.cause)
    text = " ".join(str(exc).split())[:2000] or type(exc).__name__
    if isinstance(exc, StorageError):
        return exc.kind, text
    if isinstance(exc, PhotoError):
        return exc.error_kind, text
    if isinstance(exc, BackendError):
        named = f"vlm_{exc.kind}"
        if named in KINDS:
            return named, text
        return ("vlm_unreachable" if exc.retryable else "vlm_error"), f"{exc.kind}: {text}"
    if isinstance(exc, rex.TaskCancelledError):
        return "aborted", "cancelled: the job stopped before this image finished"
    if isinstance(exc, (rex.RayActorError, rex.ActorUnavailableError)):
        return "actor_lost", f"{type(exc).__name__}: {_last_line(exc)}"
    if isinstance(exc, (rex.WorkerCrashedError, rex.NodeDiedError, rex.OutOfMemoryError, rex.ObjectLostError,
                        rex.RayTaskError, rex.RaySystemError)):
        return "worker_lost", f"{type(exc).__name__}: {_last_line(exc)}"
    storage = failure_kind(exc) if isinstance(exc, OSError) else None
    if storage:
        return storage, text
    return "internal", f"{type(exc).__name__}: {text}"


def _last_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:500]


def alert_exclusions() -> list[str]:
    """Kinds the failure-rate alerts leave out (dashboards/alerts.yml is tested against this)."""
    return sorted(k.name for k in KINDS.values() if not k.alerts)


def markdown_table() -> str:
    """The runbook's table of kinds (docs/operating.md is tested to contain exactly this)."""
    lines = ["| kind | what happened | a rerun of the run id | what to do |", "| --- | --- | --- | --- |"]
    for k in KINDS.values():
        rerun = "retries it" if k.transient else "keeps the row"
        if k.retry_now:
            rerun += " (and Ray retries at once, `tasks.max_retries`)"
        lines.append(f"| `{k.name}` | {k.meaning} | {rerun} | {k.action} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m pipeline.kinds: the runbook's table
    print(markdown_table())
