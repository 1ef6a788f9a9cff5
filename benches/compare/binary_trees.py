# binary-trees as Python users write it: nodes are tuples, leaves are None.
import sys

sys.setrecursionlimit(10000)


def make(d):
    if d == 0:
        return None
    return (make(d - 1), make(d - 1))


def check(t):
    if t is None:
        return 1
    return 1 + check(t[0]) + check(t[1])


def main():
    mx = 16
    total = check(make(mx + 1))
    long = make(mx)
    for d in range(4, mx + 1, 2):
        for _ in range(1 << (mx - d + 4)):
            total += check(make(d))
    print(total + check(long))


main()
