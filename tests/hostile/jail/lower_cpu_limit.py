# mode: os_only
# result: failed
# ended within: 8
# tries: lower its own CPU-time limit to 1 s and spin, so that the job dies of SIGXCPU long before its deadline
import resource

used = resource.getrusage(resource.RUSAGE_SELF)
_, hard = resource.getrlimit(resource.RLIMIT_CPU)
resource.setrlimit(resource.RLIMIT_CPU, (int(used.ru_utime + used.ru_stime) + 1, hard))
while True:
    pass
