-- What every wrk script of bench/ shares, loaded at its top with
--   dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
-- (wrk loads a script once for setup/done and once per thread; each load runs this too).
-- setup() numbers the threads (`thread_id` in each), read_tokens() reads the tokens file (one
-- "token<TAB>email" line per user), and report() prints the one BENCH-JSON line bench/loadgen.py
-- reads: wrk's own figures and the named per-thread counters, summed over the threads.

threads = {}
local next_id = 1

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function read_tokens(path)
  local tokens, emails = {}, {}
  for line in io.lines(path) do
    local token, email = line:match("^(%S+)\t(%S+)$")
    if token then
      table.insert(tokens, token)
      table.insert(emails, email)
    end
  end
  return tokens, emails
end

-- counters: JSON key -> the thread variable summed into it; "missing" is 0 unless named.
function report(summary, latency, counters)
  local fields = {}
  local names = {}
  for key in pairs(counters) do table.insert(names, key) end
  table.sort(names)
  if counters.missing == nil then table.insert(fields, '"missing": 0') end
  for _, key in ipairs(names) do
    local total = 0
    for _, thread in ipairs(threads) do total = total + thread:get(counters[key]) end
    table.insert(fields, string.format('"%s": %d', key, total))
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-JSON {"duration_s": %.6f, "responses": %d, %s, "socket_errors": %d, "timeouts": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f}\n',
    summary.duration / 1e6, summary.requests, table.concat(fields, ", "),
    errors.connect + errors.read + errors.write, errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3))
end
