parts = []
for i in range(200000):
    parts.append("item" + str(i))
joined = ",".join(parts)
print(len(joined), len(joined.split(",")))
