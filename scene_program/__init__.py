"""Scene programs as plain data: the contract of GUIDE §2, with no bpy import.

`model` holds the typed scene description, `writer` turns it into a program,
`sections` splits and splices the text of a program by its `# === seig:NAME ===`
markers. Everything above this package (stages, pipeline) edits programs through it.
"""
