# expect: rejected
# tries: alias bpy.ops so the denied family (wm) never appears as ops.wm
# rule: bpy-ops
import bpy

ops = bpy.ops
family = ops.wm
family.save_as_mainfile(filepath="/tmp/seig-hostile-target/pwned.blend")
