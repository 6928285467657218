# expect: rejected
# tries: the random module's private reference to os (random._os)
# rule: dunder
import random

random._os.system("id")
