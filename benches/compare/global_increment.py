# A module-level variable updated in a for loop.
x = 0


def main():
    global x
    for _ in range(20000000):
        x += 1


main()
print(x)
