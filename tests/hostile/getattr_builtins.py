# expect: rejected
# tries: getattr with a computed name to walk from print to its module's builtins
# rule: builtin
name = "_" + "_self_" + "_"
owner = getattr(print, name)
print(getattr(owner, "_" + "_dict_" + "_"))
