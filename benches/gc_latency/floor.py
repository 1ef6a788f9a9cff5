# The machine's floor under the worst-case figures of run.sh: N processes
# (no runtime, no allocation, no lock) each read the clock in a loop for
# SECONDS and keep the longest gap between two readings, which is time the
# operating system (or the hypervisor) gave their CPU to something else.
# With as many busy processes as CPUs, no program's worst replacement can
# be measured below it.
#   python3 floor.py [N] [SECONDS]     (default 2 processes, 1 s)
import sys
import time
from multiprocessing import Pool


def spin(seconds):
    clock = time.perf_counter
    worst = 0.0
    last = clock()
    end = last + seconds
    while last < end:
        now = clock()
        if now - last > worst:
            worst = now - last
        last = now
    return worst


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    with Pool(n) as pool:
        worst = max(pool.map(spin, [seconds] * n))
    print(f"worst gap {worst * 1e3:.3f} ms")
