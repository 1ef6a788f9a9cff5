# GC latency at the script level: a window of 200,000 strings of 1 KiB stays
# live while 1,000,000 new ones replace them one at a time, each replacement
# timed with time.perf_counter(). Prints the worst replacement and the 99th
# percentile.   python3 latency.py
import time

WINDOW, REPLACEMENTS, BUCKETS = 200000, 1000000, 10000
base = "x" * 1024
clock = time.perf_counter
window = [base + str(i) for i in range(WINDOW)]
hist = [0] * (BUCKETS + 1)
worst = 0.0
for i in range(REPLACEMENTS):
    t0 = clock()
    window[i % WINDOW] = base + str(i)
    dt = clock() - t0
    if dt > worst:
        worst = dt
    hist[min(int(dt * 1e6), BUCKETS)] += 1
seen = p99 = 0
for b, n in enumerate(hist):
    seen += n
    if seen >= REPLACEMENTS * 0.99:
        p99 = b + 1
        break
print("replacements %d, worst %.3f ms, p99 %d us" % (REPLACEMENTS, worst * 1e3, p99))
