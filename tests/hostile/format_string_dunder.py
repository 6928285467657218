# expect: rejected
# tries: str.format field access ({0.__class__...}) to read attributes without an attribute node
# rule: bpy-api
template = "{0.__class__.__base__.__subclasses__}"
print(template.format(()))
