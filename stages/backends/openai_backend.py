"""The `openai` backend: kept as the import path configs, the registry and tests know.
The code lives in stages/backends/vlm/ (one job per module)."""
from stages.backends.vlm.backend import OpenAIBackend
from stages.backends.vlm.config import OpenAIConfig

__all__ = ["OpenAIBackend", "OpenAIConfig"]
