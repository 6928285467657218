# mode: os_only
# result: any
# tries: a daemon that forks, setsid()s away and waits to tamper with the next job's child
import os
import time

import bpy

try:
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            for _ in range(600):
                with open("@TARGET_DIR@/daemon-alive", "a") as fh:
                    fh.write("x")
                time.sleep(0.1)
        os._exit(0)
    print("FORKED", pid)
except OSError as exc:
    print("NO FORK", exc.__class__.__name__, exc.errno)
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
