# expect: rejected
# tries: an exporter inside an allowed operator family (uv.export_layout writes a file; found as a hole)
# rule: bpy-api
import bpy

bpy.ops.mesh.primitive_cube_add()
bpy.ops.object.mode_set(mode="EDIT")
bpy.ops.uv.export_layout(filepath="/tmp/seig-hostile-target/pwned-uv.svg", mode="SVG")
