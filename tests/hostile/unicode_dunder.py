# expect: rejected
# tries: identifiers with U+FE33 (PRESENTATION FORM FOR VERTICAL LOW LINE) that the parser NFKC-normalises to `__globals__`
# rule: dunder
probe = lambda: 0  # noqa: E731
print(probe._︳globals︳︳)
