# expect: rejected
# tries: reach bpy.data.texts through path_resolve with a computed string, so 'texts' is never written
# rule: bpy-api
import bpy

texts = bpy.data.path_resolve("te" + "xts")
block = texts.new("payload.py")
block.current_line.body = "import os"
