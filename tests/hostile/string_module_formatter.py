# expect: rejected
# tries: string.Formatter().get_field to resolve "0.__class__" style fields without str.format
# rule: import
import string

print(string.Formatter().get_field("0.__class__.__mro__", [()], {}))
