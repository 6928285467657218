# expect: rejected
# tries: write Python into a text block and run it as a module (bpy's own exec)
# rule: bpy-api
import bpy

block = bpy.data.texts.new("payload.py")
block.write("import os\nos.system('touch /tmp/seig-hostile-target/pwned-text')\n")
block.as_module()
