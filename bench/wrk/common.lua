-- Shared by the scenarios: the admin's bearer token, the seeded id range, and a closing report
-- that bench/run reads (one line, "RESULT key=value ...", latencies in microseconds).
local M = {}

M.token = os.getenv("BENCH_TOKEN")
M.min_id = tonumber(os.getenv("MIN_ID") or "1")
M.max_id = tonumber(os.getenv("MAX_ID") or "1")
M.min_key_id = tonumber(os.getenv("MIN_KEY_ID") or "1")
M.run = os.getenv("BENCH_RUN") or tostring(os.time())

function M.auth_headers()
  return { ["Authorization"] = "Bearer " .. M.token, ["Content-Type"] = "application/json" }
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end

-- Give each thread a number, for unique emails.
local counter = 1
function M.setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

return M
