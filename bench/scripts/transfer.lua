-- wrk: POST /v1/transfers of 1 cent from a random user to another, each request with the
-- sender's Bearer token and a new Idempotency-Key. Arguments: <run tag> <tokens file> [hot share].
-- The tokens file has one "token<TAB>email" line per user. With a hot share (0.5: half of all
-- transfers), that share credits the first user of the file (one hot wallet), from a sender
-- drawn among the others; the rest is uniform. done() prints one BENCH-JSON line.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  tag = args[1]
  hot = tonumber(args[3] or "0")
  tokens, emails = {}, {}
  for line in io.lines(args[2]) do
    local token, email = line:match("^(%S+)\t(%S+)$")
    if token then
      table.insert(tokens, token)
      table.insert(emails, email)
    end
  end
  counter, created, client_errors, server_errors, other = 0, 0, 0, 0, 0
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  counter = counter + 1
  local sender, recipient
  if hot > 0 and math.random() < hot then
    sender, recipient = 1 + math.random(#tokens - 1), 1
  else
    sender = math.random(#tokens)
    recipient = math.random(#tokens - 1)
    if recipient >= sender then recipient = recipient + 1 end
  end
  local body = '{"amount":1,"currency":"USD","to_email":"' .. emails[recipient] .. '","memo":"bench"}'
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[sender],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = tag .. "-" .. thread_id .. "-" .. counter,
  }
  return wrk.format("POST", "/v1/transfers", headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    client_errors = client_errors + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, e4, e5, o = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("created")
    e4 = e4 + thread:get("client_errors")
    e5 = e5 + thread:get("server_errors")
    o = o + thread:get("other")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-JSON {"duration_s": %.6f, "responses": %d, "created": %d, "client_errors": %d, ' ..
    '"server_errors": %d, "other": %d, "missing": 0, "socket_errors": %d, "timeouts": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f}\n',
    summary.duration / 1e6, summary.requests, c, e4, e5, o,
    errors.connect + errors.read + errors.write, errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3))
end
