# expect: rejected
# tries: a geometry-nodes "Import Text" node (type name computed) to read a file into the scene
# rule: bpy-api
import bpy

mesh = bpy.data.meshes.new("carrier")
carrier = bpy.data.objects.new("carrier", mesh)
modifier = carrier.modifiers.new("reader", "NO" + "DES")
tree = modifier.node_group
reader = tree.nodes.new("GeometryNode" + "Im" + "portText")
reader.inputs[0].default_value = "/root/.aws/credentials"
