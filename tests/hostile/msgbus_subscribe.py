# expect: rejected
# tries: subscribe a callback to RNA changes through the message bus
# rule: bpy-api
import bpy

owner = [0]
bpy.msgbus.subscribe_rna(key=(bpy.types.Object, "location"), owner=owner, args=(), notify=print)
