# expect: contained
# tries: a mesh with billions of vertices, to exhaust memory or time inside Blender's C code
import bpy
import bmesh

bm = bmesh.new()
bmesh.ops.create_grid(bm, x_segments=100_000, y_segments=100_000, size=1.0)
mesh = bpy.data.meshes.new("bomb")
bm.to_mesh(mesh)
