# expect: rejected
# tries: an f-string whose replacement field walks to object's subclasses
# rule: dunder
print(f"{().__class__.__base__.__subclasses__()}")
