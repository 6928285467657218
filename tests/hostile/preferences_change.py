# expect: rejected
# tries: turn on auto-execution of Python in blend files and move the temp directory via preferences
# rule: bpy-context
import bpy

prefs = bpy.context.preferences
prefs.filepaths.use_scripts_auto_execute = True
prefs.filepaths.temporary_directory = "/tmp/seig-hostile-target"
