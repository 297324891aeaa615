-- wrk script for bench/run.py: POST a fixed JSON body, one pre-signed header value per request.
--
-- Environment:
--   BENCH_PATH     request path (e.g. /api/v1/image/generate)
--   BENCH_BODY     file holding the JSON request body
--   BENCH_HEADER   header name carrying the per-request value (e.g. Sign-In-With-X); optional
--   BENCH_VALUES   file with one header value per line (single-use SIWX envelopes); optional
--   BENCH_STATIC   extra "name: value" header sent on every request (e.g. Authorization); optional
--   BENCH_OUT      file the summary is written to, as JSON
-- Run with one thread (-t1): the envelope list is consumed in order, each value exactly once.
-- If the list runs out, values are reused and the gateway answers 401 (counted as non-2xx), so
-- bench/run.py always signs more envelopes than a run can use and rejects runs with errors.

local function read_file(name)
  local f = assert(io.open(name, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

local path = os.getenv("BENCH_PATH") or "/"
local body = read_file(os.getenv("BENCH_BODY"))
local header = os.getenv("BENCH_HEADER")
local values_file = os.getenv("BENCH_VALUES")
local static = os.getenv("BENCH_STATIC")
local values = {}
local count = 0
local index = 0
local base = { ["Content-Type"] = "application/json" }

if static and static ~= "" then
  local name, value = static:match("^([^:]+):%s*(.*)$")
  base[name] = value
end

if header and values_file and values_file ~= "" then
  for line in io.lines(values_file) do
    count = count + 1
    values[count] = line
  end
end

-- Without per-request values the request never changes: let wrk build it once.
if count == 0 then
  wrk.method = "POST"
  wrk.path = path
  wrk.body = body
  wrk.headers = base
else
  request = function()
    index = index + 1
    if index > count then index = 1 end
    local headers = { ["Content-Type"] = "application/json" }
    for k, v in pairs(base) do headers[k] = v end
    headers[header] = values[index]
    return wrk.format("POST", path, headers, body)
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"requests": %d, "seconds": %.6f, "rps": %.3f, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "bytes": %d, "non2xx": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    summary.bytes, e.status, e.connect, e.read, e.write, e.timeout))
  out:close()
end
