"""Scene programs as plain data: the scene-program contract of docs/contracts.md, with no bpy import.

`model` holds the typed scene description, `writer` turns it into a program,
`sections` splits and splices the text of a program by its `# === seig:NAME ===`
markers. Everything above this package (stages, pipeline) edits programs through it.
"""
