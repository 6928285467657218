# expect: rejected
# tries: exec() of a string built at run time, so nothing dangerous appears in the source
# rule: builtin
exec("imp" + "ort os; os.system('id')")
