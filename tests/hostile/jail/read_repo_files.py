# mode: os_only
# result: any
# tries: read the repository's own files (configs, code) and list its directory
import os

import bpy

for path in ["@REPO@/pyproject.toml", "@REPO@/configs/local.yaml", "@REPO@/blender_actors/worker.py"]:
    try:
        print("READ", path, open(path).read()[:300])
    except OSError as exc:
        print("DENIED", path, exc.__class__.__name__)
try:
    print("LIST", os.listdir("@REPO@"))
except OSError as exc:
    print("DENIED list", exc.__class__.__name__)
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
