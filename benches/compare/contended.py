# Contended counter: 4 threads x 2,500,000 increments of one counter under a
# threading.Lock.
import threading

counter = 0
lock = threading.Lock()


def work(n):
    global counter
    for _ in range(n):
        with lock:
            counter = counter + 1


threads = [threading.Thread(target=work, args=(2500000,)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(counter)
