# expect: rejected
# tries: a compositor File Output node with a computed type name (default directory /tmp/: in plain bpy it wrote /tmp/file_name.exr; a hole)
# rule: bpy-api
import bpy

tree = bpy.data.node_groups.new("post", "Compositor" + "NodeTree")
layers = tree.nodes.new("Compositor" + "NodeRLayers")
output = tree.nodes.new("Compositor" + "NodeOutput" + "File")
tree.links.new(layers.outputs[0], output.inputs[0])
bpy.context.scene.compositing_node_group = tree
