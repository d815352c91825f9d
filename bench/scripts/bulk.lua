-- wrk: POST /v1/transfers/batch, independent mode, <batch> items of 1 cent from one random user
-- to random others, each item with its own idempotency key. Arguments: <run tag> <tokens file>
-- <batch>. "created" counts items answered 201 ("status":201 appears once per moved item and
-- never in a problem document); "missing" counts answers 404/405 (no such endpoint).
-- done() prints one BENCH-JSON line.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
  tag = args[1]
  batch = tonumber(args[3])
  tokens, emails = read_tokens(args[2])
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
  report(summary, latency, {
    created = "created", client_errors = "client_errors", server_errors = "server_errors",
    other = "other", missing = "missing",
  })
end
