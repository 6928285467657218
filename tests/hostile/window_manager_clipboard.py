# expect: rejected
# tries: reach the window manager through bpy.data.window_managers and read the clipboard (found as a hole)
# rule: bpy-api
import bpy

manager = bpy.data.window_managers[0]
print(manager.clipboard)
