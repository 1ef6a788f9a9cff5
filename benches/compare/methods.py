class Counter:
    def __init__(self):
        self.n = 0
    def bump(self, k):
        self.n = self.n + k
def main():
    c = Counter()
    for i in range(3000000):
        c.bump(1)
    print(c.n)
main()
