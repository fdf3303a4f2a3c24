-- wrk script: POST /v1/search with queries from $FUNNEL_QUERIES (one per
-- line; default a few fixed ones), k=10, explain off. At the end prints the
-- statuses and the store versions that answered (X-Funnel-Store-Version),
-- as "wrk-statuses: {...}" and "wrk-versions: {...}".
local queries = {}
local file = os.getenv("FUNNEL_QUERIES")
if file then
  for line in io.lines(file) do
    if #line > 0 then queries[#queries + 1] = line end
  end
end
if #queries == 0 then queries = {"peppa pig", "guitar lesson", "cat video", "piano tutorial"} end
local cascade = os.getenv("FUNNEL_CASCADE")

local function escape(s)
  return (s:gsub('\\', '\\\\'):gsub('"', '\\"'))
end

local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  i = i + 1
  local q = queries[(i % #queries) + 1]
  local body = '{"query": "' .. escape(q) .. '", "k": 10, "explain": false'
  if cascade then body = body .. ', "cascade": "' .. cascade .. '"' end
  return wrk.format(nil, "/v1/search", nil, body .. "}")
end

-- Counters are plain globals ("s200", "v2"), listed in the string `keys`:
-- thread:get only copies strings and numbers out of a thread.
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end
keys = ""
local function count(key)
  local n = _G[key]
  if n == nil then
    keys = keys .. key .. ","
    n = 0
  end
  _G[key] = n + 1
end
response = function(status, headers, body)
  count("s" .. status)
  count("v" .. (headers["X-Funnel-Store-Version"] or "none"))
end
local function serialise(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = '"' .. tostring(k) .. '": ' .. v end
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
end
done = function(summary, latency, requests)
  local s, v = {}, {}
  for _, thread in ipairs(threads) do
    for key in string.gmatch(thread:get("keys") or "", "([^,]+)") do
      local n = thread:get(key) or 0
      local kind, name = key:sub(1, 1), key:sub(2)
      if kind == "s" then s[name] = (s[name] or 0) + n else v[name] = (v[name] or 0) + n end
    end
  end
  io.write("wrk-statuses: " .. serialise(s) .. "\n")
  io.write("wrk-versions: " .. serialise(v) .. "\n")
  io.write(string.format("wrk-latency-ms: p50 %.3f p99 %.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
