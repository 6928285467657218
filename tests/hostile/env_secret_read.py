# expect: rejected
# tries: read credentials from the environment and print them
# rule: import
import os

print({k: v for k, v in os.environ.items() if "KEY" in k or "TOKEN" in k or "SECRET" in k})
