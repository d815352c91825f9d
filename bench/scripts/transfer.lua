-- wrk: POST /v1/transfers of 1 cent from a random user to another, each request with the
-- sender's Bearer token and a new Idempotency-Key. Arguments: <run tag> <tokens file> [hot share].
-- The tokens file has one "token<TAB>email" line per user. With a hot share (0.5: half of all
-- transfers), that share credits the first user of the file (one hot wallet), from a sender
-- drawn among the others; the rest is uniform. done() prints one BENCH-JSON line.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
  tag = args[1]
  hot = tonumber(args[3] or "0")
  tokens, emails = read_tokens(args[2])
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
  report(summary, latency, {created = "created", client_errors = "client_errors", server_errors = "server_errors", other = "other"})
end
