# expect: rejected
# tries: export the scene with a file exporter to a path of its choosing
# rule: bpy-ops
import bpy

bpy.ops.mesh.primitive_cube_add()
bpy.ops.wm.obj_export(filepath="/tmp/seig-hostile-target/pwned.obj")
