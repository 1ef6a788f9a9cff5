x = 0
def main():
    global x
    i = 0
    while i < 20000000:
        x = x + 1
        i += 1
main()
print(x)
