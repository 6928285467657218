# tries: patch a bpy.types class through an alias so that every later job of the worker breaks
# (before: it ran in the next 200 jobs of that warm process)
import bpy


def broken(*args, **kwargs):
    raise RuntimeError("patched by an earlier job")


cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
objects_type = bpy.types.BlendDataObjects
objects_type.new = broken
mesh_type = bpy.types.Mesh
mesh_type.from_pydata = broken
