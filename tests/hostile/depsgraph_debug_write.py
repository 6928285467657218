# expect: rejected
# tries: a depsgraph debug function that writes a graphviz file to any path (found as a hole)
# rule: bpy-api
import bpy

graph = bpy.context.evaluated_depsgraph_get()
graph.debug_relations_graphviz(filepath="/tmp/seig-hostile-target/pwned.dot")
