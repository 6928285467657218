# expect: rejected
# tries: an OSL script node (OSL can fprintf to files and read images by path) with bytecode set directly
# rule: bpy-api
import bpy

bpy.context.scene.cycles.shading_system = True
material = bpy.data.materials.new("osl")
node = material.node_tree.nodes.new("ShaderNode" + "Script")
node.mode = "INTERNAL"
node.bytecode = "OpenShadingLanguage 1.00\nshader evil\ncode ___main___\nend\n"
