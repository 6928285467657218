# expect: rejected
# tries: read /etc/passwd with the open() builtin and print it into the job's stdout
# rule: builtin
print(open("/etc/passwd").read())
