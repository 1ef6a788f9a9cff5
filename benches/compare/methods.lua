local Counter = {}
Counter.__index = Counter
function Counter.new() return setmetatable({n = 0}, Counter) end
function Counter:bump(k) self.n = self.n + k end
local c = Counter.new()
for i = 0, 3000000 - 1 do c:bump(1) end
print(c.n)
