# expect: rejected
# tries: alias bpy.context (C = bpy.context) so later member access is not seen as context.X
# rule: bpy-context
import bpy

C = bpy.context
print(C.copy())
