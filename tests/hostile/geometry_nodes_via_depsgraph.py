# expect: rejected
# tries: quick_fur appends geometry-node groups; depsgraph.ids[...].original reaches them without `node_group`, then an Import Text node reads a file (a hole)
# rule: bpy-api
import bpy

bpy.ops.mesh.primitive_cube_add()
bpy.ops.object.quick_fur()
graph = bpy.context.evaluated_depsgraph_get()
for item in graph.ids:
    tree = item.original
    if "Geometry" in tree.bl_rna.identifier:
        reader = tree.nodes.new("GeometryNode" + "Im" + "portText")
        reader.inputs[0].default_value = "/root/.aws/credentials"
        break
