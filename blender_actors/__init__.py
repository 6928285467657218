"""Warm, sandboxed Blender workers.

`sandbox` (static check), `limits` (OS containment), `child` (the process that imports
bpy), `worker` (the parent-side facade), `actor` (a Ray actor owning one worker).
Nothing here imports stages or pipeline.
"""
from blender_actors.config import WorkerConfig
from blender_actors.protocol import RenderError, RenderRecord, RenderRequest, RenderResult

__all__ = ["WorkerConfig", "RenderError", "RenderRecord", "RenderRequest", "RenderResult"]
