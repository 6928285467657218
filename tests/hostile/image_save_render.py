# expect: rejected
# tries: Image.save_render with a positional path (no filepath keyword or attribute)
# rule: bpy-api
import bpy

image = bpy.data.images.new("pwned", 4, 4)
image.save_render("/tmp/seig-hostile-target/pwned-render.png")
