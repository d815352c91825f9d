-- wrk: holds and captures. Each operation is POST /v1/holds of 1 cent from a random user to
-- another (expires_in one day, memo = the run tag), then, once it is answered 201,
-- POST /v1/holds/{id}/capture of all of it ({}) by the same payer. Every request carries the
-- payer's Bearer token and a new Idempotency-Key. Arguments: <run tag> <tokens file>.
-- The tokens file has one "token<TAB>email" line per user.
--
-- wrk does not say which connection an answer came on, so each thread keeps a queue of holds
-- placed and not yet captured: a connection's next request captures the oldest one, or places
-- a new hold when there is none. wrk asks for that request right after the answer, so the
-- queue stays short; at wrk's cut-off up to one request per connection is in flight, which
-- the daemon still commits (a hold then stays open, or a capture is committed uncounted), and
-- holds answered but not captured yet stay open too.
-- "created" counts captures answered 201 (operations done), "started" holds placed (201).
-- done() prints one BENCH-JSON line.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
  tag = args[1]
  tokens, emails = read_tokens(args[2])
  index_of = {}
  for index, email in ipairs(emails) do index_of[email] = index end
  counter, created, placed, client_errors, server_errors, other = 0, 0, 0, 0, 0, 0
  to_capture, first, last = {}, 1, 0 -- this thread's placed holds, oldest first
  math.randomseed(os.time() * 1000 + thread_id)
end

local function headers_for(payer)
  counter = counter + 1
  return {
    ["Authorization"] = "Bearer " .. tokens[payer],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = tag .. "-" .. thread_id .. "-" .. counter,
  }
end

function request()
  if first <= last then
    local hold = to_capture[first]
    to_capture[first] = nil
    first = first + 1
    return wrk.format("POST", "/v1/holds/" .. hold.id .. "/capture", headers_for(hold.payer), "{}")
  end
  local payer = math.random(#tokens)
  local payee = math.random(#tokens - 1)
  if payee >= payer then payee = payee + 1 end
  local body = '{"amount":1,"currency":"USD","to":"' .. emails[payee] ..
    '","expires_in":86400,"memo":"' .. tag .. '"}'
  return wrk.format("POST", "/v1/holds", headers_for(payer), body)
end

function response(status, headers, body)
  -- A hold's answer is the Hold object (keys sorted); a capture's has the transfer it posted
  -- under "capture", a placement's has "capture": null and names the hold and its payer.
  if status == 201 and body:find('"capture":%s*{') then
    created = created + 1
  elseif status == 201 then
    local id = body:match('"id":%s*"([%x%-]+)"')
    local payer = index_of[body:match('"payer":%s*{%s*"email":%s*"([^"]+)"') or ""]
    if id and payer then
      placed = placed + 1
      last = last + 1
      to_capture[last] = { id = id, payer = payer }
    else
      other = other + 1
    end
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
    created = "created", started = "placed", client_errors = "client_errors",
    server_errors = "server_errors", other = "other",
  })
end
