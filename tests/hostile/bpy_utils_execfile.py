# expect: rejected
# tries: run a Python file through bpy.utils.execfile
# rule: bpy-api
import bpy

bpy.utils.execfile("/tmp/seig-hostile-target/payload.py")
