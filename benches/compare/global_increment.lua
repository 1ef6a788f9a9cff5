x = 0
local i = 0
while i < 20000000 do x = x + 1; i = i + 1 end
print(x)
