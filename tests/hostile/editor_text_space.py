# expect: rejected
# tries: reach a text editor through the UI's screens and areas, to get at text blocks and node trees without bpy.data
# rule: bpy-api
import bpy

area = bpy.data.screens[0].areas[0]
area.type = "NODE_EDITOR"
print(area.spaces[0].node_tree)
