local function make(d)
  if d == 0 then return {false, false} end
  return {make(d - 1), make(d - 1)}
end
local function check(t)
  if not t[1] then return 1 end
  return 1 + check(t[1]) + check(t[2])
end
local max = 16
local total = check(make(max + 1))
local long = make(max)
local d = 4
while d <= max do
  local iters = 1 << (max - d + 4)
  for i = 1, iters do total = total + check(make(d)) end
  d = d + 2
end
print(total + check(long))
