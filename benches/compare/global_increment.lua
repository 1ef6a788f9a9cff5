-- A global updated in a numeric for loop.
x = 0
for _ = 1, 20000000 do x = x + 1 end
print(x)
