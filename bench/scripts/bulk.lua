-- wrk: POST /v1/transfers/batch, independent mode, <batch> items of 1 cent from one random user
-- to random others, each item with its own idempotency key. Arguments: <run tag> <tokens file>
-- <batch>. "created" counts items answered 201 ("status":201 appears once per moved item and
-- never in a problem document); "missing" counts answers 404/405 (no such endpoint).
-- done() prints one BENCH-JSON line.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  tag = args[1]
  batch = tonumber(args[3])
  tokens, emails = {}, {}
  for line in io.lines(args[2]) do
    local token, email = line:match("^(%S+)\t(%S+)$")
    if token then
      table.insert(tokens, token)
      table.insert(emails, email)
    end
  end
  counter, created, client_errors, server_errors, other, missing = 0, 0, 0, 0, 0, 0
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  counter = counter + 1
  local sender = math.random(#tokens)
  local items = {}
  for i = 1, batch do
    local recipient = math.random(#tokens - 1)
    if recipient >= sender then recipient = recipient + 1 end
    items[i] = '{"key":"' .. tag .. "-" .. thread_id .. "-" .. counter .. "-" .. i ..
      '","amount":1,"currency":"USD","to_email":"' .. emails[recipient] .. '","memo":"bench"}'
  end
  local body = '{"mode":"independent","items":[' .. table.concat(items, ",") .. "]}"
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[sender],
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/v1/transfers/batch", headers, body)
end

function response(status, headers, body)
  if status == 200 then
    local moved = select(2, body:gsub('"status":%s*201', ""))
    created = created + moved
    client_errors = client_errors + (batch - moved)
  elseif status == 404 or status == 405 then
    missing = missing + 1
  elseif status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    client_errors = client_errors + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, e4, e5, o, m = 0, 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("created")
    e4 = e4 + thread:get("client_errors")
    e5 = e5 + thread:get("server_errors")
    o = o + thread:get("other")
    m = m + thread:get("missing")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-JSON {"duration_s": %.6f, "responses": %d, "created": %d, "client_errors": %d, ' ..
    '"server_errors": %d, "other": %d, "missing": %d, "socket_errors": %d, "timeouts": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f}\n',
    summary.duration / 1e6, summary.requests, c, e4, e5, o, m,
    errors.connect + errors.read + errors.write, errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3))
end
