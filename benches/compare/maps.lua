local counts = {}
local n = 0
for i = 0, 1000000 - 1 do
  local k = i % 1000
  if counts[k] then counts[k] = counts[k] + 1 else counts[k] = 1; n = n + 1 end
end
print(n .. " " .. counts[7])
