-- binary-trees as Lua users write it: nodes are tables, leaves are {}.
local function make(d)
  if d == 0 then return {} end
  d = d - 1
  return {make(d), make(d)}
end
local function check(t)
  if not t[1] then return 1 end
  return 1 + check(t[1]) + check(t[2])
end
local max = 16
local total = check(make(max + 1))
local long = make(max)
for d = 4, max, 2 do
  local iters = 1 << (max - d + 4)
  for _ = 1, iters do total = total + check(make(d)) end
end
print(total + check(long))
