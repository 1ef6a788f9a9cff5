local parts = {}
for i = 0, 200000 - 1 do parts[#parts + 1] = "item" .. i end
local joined = table.concat(parts, ",")
local n = 0
for _ in string.gmatch(joined, "[^,]+") do n = n + 1 end
print(#joined .. " " .. n)
