-- wrk: FX executions. Each operation is POST /v1/fx/quotes USD->EUR for a random user, then,
-- once it is answered 201, POST /v1/fx/exchange of that quote (memo = the run tag) by the
-- same user. Every request carries the user's Bearer token and a new Idempotency-Key.
-- Arguments: <run tag> <tokens file>. The tokens file has one "token<TAB>email" line per user.
--
-- A quote's answer names no user, so each user asks for a sell amount of their own: 100 minor
-- units plus their index in the tokens file, counted from 0 (bench/loadgen.py fx_sell_amount),
-- and the answer's sell_amount says whose quote it is. As in holds.lua, wrk does not say which
-- connection an answer came on, so each thread keeps a queue of quotes answered and not yet
-- executed: a connection's next request executes the oldest one, or asks for a new quote when
-- there is none. At wrk's cut-off up to one request per connection is in flight, which the
-- daemon still commits (a quote then stays unused, or an exchange is committed uncounted), and
-- quotes answered but not executed yet stay unused too.
-- "created" counts exchanges answered 201 (operations done), "started" quotes answered 201.
-- done() prints one BENCH-JSON line.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local FX_SELL_AMOUNT = 100

function init(args)
  tag = args[1]
  tokens = read_tokens(args[2])
  counter, created, quoted, client_errors, server_errors, other = 0, 0, 0, 0, 0, 0
  to_execute, first, last = {}, 1, 0 -- this thread's unused quotes, oldest first
  math.randomseed(os.time() * 1000 + thread_id)
end

local function headers_for(user)
  counter = counter + 1
  return {
    ["Authorization"] = "Bearer " .. tokens[user],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = tag .. "-" .. thread_id .. "-" .. counter,
  }
end

function request()
  if first <= last then
    local quote = to_execute[first]
    to_execute[first] = nil
    first = first + 1
    local body = '{"quote_id":"' .. quote.id .. '","memo":"' .. tag .. '"}'
    return wrk.format("POST", "/v1/fx/exchange", headers_for(quote.user), body)
  end
  local user = math.random(#tokens)
  local body = '{"sell":"USD","buy":"EUR","sell_amount":' .. (FX_SELL_AMOUNT + user - 1) .. '}'
  return wrk.format("POST", "/v1/fx/quotes", headers_for(user), body)
end

function response(status, headers, body)
  -- An exchange's answer is the Transfer (kind "exchange", the quote under "fx"); a quote's
  -- starts with its quote_id and has its sell_amount at the top level.
  if status == 201 and body:find('"kind":%s*"exchange"') then
    created = created + 1
  elseif status == 201 then
    local id = body:match('^{"quote_id":%s*"([%x%-]+)"')
    local amount = tonumber(body:match('"sell_amount":%s*(%d+)') or "")
    local user = amount and amount - FX_SELL_AMOUNT + 1
    if id and user and tokens[user] then
      quoted = quoted + 1
      last = last + 1
      to_execute[last] = { id = id, user = user }
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
    created = "created", started = "quoted", client_errors = "client_errors",
    server_errors = "server_errors", other = "other",
  })
end
