# expect: rejected
# tries: create an image datablock, point it at a path and save it
# rule: bpy-api
import bpy

image = bpy.data.images.new("pwned", 4, 4)
image.filepath_raw = "/tmp/seig-hostile-target/pwned-image.png"
image.file_format = "PNG"
image.save()
