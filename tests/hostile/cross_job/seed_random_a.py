# tries: fix the random numbers of the jobs that follow (random.seed in a warm process)
import random

import bpy

random.seed(1234)
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
