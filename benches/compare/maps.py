def main():
    counts = {}
    for i in range(1000000):
        k = i % 1000
        if k in counts:
            counts[k] = counts[k] + 1
        else:
            counts[k] = 1
    print(len(counts), counts[7])
main()
