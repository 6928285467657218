# expect: rejected
# tries: register a render handler that runs later, outside the program's own execution
# rule: bpy-api
import bpy


def on_render(scene, depsgraph=None):
    print("running inside the render")


bpy.app.handlers.render_pre.append(on_render)
