-- GC latency at the script level: a window of 200,000 strings of 1 KiB stays
-- live while 1,000,000 new ones replace them one at a time, each replacement
-- timed with os.clock(). Prints the worst replacement and the 99th percentile.
--   lua5.4 latency.lua [inc|gen]
if arg[1] == "gen" then collectgarbage("generational") else collectgarbage("incremental") end
local WINDOW, REPLACEMENTS, BUCKETS = 200000, 1000000, 10000
local base = string.rep("x", 1024)
local clock, floor, min = os.clock, math.floor, math.min
local window, hist, worst = {}, {}, 0
for b = 0, BUCKETS do hist[b] = 0 end
for i = 1, WINDOW do window[i] = base .. (i - 1) end
for i = 0, REPLACEMENTS - 1 do
  local t0 = clock()
  window[i % WINDOW + 1] = base .. i
  local dt = clock() - t0
  if dt > worst then worst = dt end
  local b = min(floor(dt * 1e6), BUCKETS)
  hist[b] = hist[b] + 1
end
local seen, p99 = 0, 0
for b = 0, BUCKETS do
  seen = seen + hist[b]
  if seen >= REPLACEMENTS * 0.99 then p99 = b + 1; break end
end
print(string.format("replacements %d, worst %.3f ms, p99 %d us", REPLACEMENTS, worst * 1e3, p99))
