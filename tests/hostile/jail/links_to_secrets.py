# mode: os_only
# result: any
# tries: plant render.png / objects.json as a symlink or hard link to a secret, so the parent reads it
import os

import bpy

for make in (os.symlink, os.link):
    for name in ("render.png", "objects.json"):
        try:
            make("@SECRET_FILE@", name)
            print("LINKED", make.__name__, name)
        except OSError as exc:
            print("DENIED", make.__name__, name, exc.__class__.__name__)
try:
    os.rename("@SECRET_FILE@", "stolen.txt")
    print("MOVED")
except OSError as exc:
    print("DENIED rename", exc.__class__.__name__)
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
