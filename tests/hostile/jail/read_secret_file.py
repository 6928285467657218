# mode: os_only
# result: any
# tries: with full Python (as after an escape), read a secret file outside the job dir and print it
import bpy

for path in ["@SECRET_FILE@", "/etc/shadow", "/etc/passwd", "/root/.aws/credentials", "/etc/hostname"]:
    try:
        print("READ", path, open(path).read()[:200])
    except OSError as exc:
        print("DENIED", path, exc.__class__.__name__)
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
