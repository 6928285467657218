# the next job: builds a small scene with random placement; must render the same whatever ran before it
import random

import bpy

scene = bpy.context.scene
mesh = bpy.data.meshes.new("box")
mesh.from_pydata([(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)], [],
                 [(0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)])
box = bpy.data.objects.new("box", mesh)
box.location = (random.uniform(-1, 1), random.uniform(-1, 1), 0)
scene.collection.objects.link(box)
print("random", random.random())
sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
scene.collection.objects.link(sun)
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
cam.location = (0.5, -5, 1.5)
cam.rotation_euler = (1.35, 0, 0)
scene.collection.objects.link(cam)
scene.camera = cam
