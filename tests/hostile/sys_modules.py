# expect: rejected
# tries: sys.modules to get an already-imported os module without an import statement for it
# rule: import
import sys

sys.modules["os"].system("id")
