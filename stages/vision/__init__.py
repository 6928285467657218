"""Classical vision for the offline backend: a photo -> an initial Scene (photo pop-up).

Public entry point: `initial_scene(photo, width, height, samples, seed)`; `read_photo`
returns every intermediate result (labels, horizon, layout, light) for inspection.
Imports run one way: photo_to_scene -> layout/uprights/colours/sky/occlusion ->
segment/regions/raycast/shading/camera -> image; nothing here imports bpy.
"""
from stages.vision.photo_to_scene import initial_scene, read_photo

__all__ = ["initial_scene", "read_photo"]
