import sys
sys.setrecursionlimit(10000)
def make(d):
    if d == 0:
        return [None, None]
    return [make(d - 1), make(d - 1)]
def check(t):
    if t[0] is None:
        return 1
    return 1 + check(t[0]) + check(t[1])
mx = 16
total = check(make(mx + 1))
long = make(mx)
d = 4
while d <= mx:
    iters = 1 << (mx - d + 4)
    for i in range(iters):
        total += check(make(d))
    d += 2
print(total + check(long))
