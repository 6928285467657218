# expect: rejected
# tries: save the .blend file somewhere outside the worker's directory
# rule: bpy-ops
import bpy

bpy.ops.wm.save_as_mainfile(filepath="/tmp/seig-hostile-target/pwned.blend")
