-- wrk script for bench/redirect.py --conversions: POST /api/v1/conversions, one new order
-- per request. The status counts and the JSON summary line come from redirect.lua.
--
-- Arguments (after "--" on wrk's command line): <run tag> <secret key> <code>[,<code>...]
-- Order id: bench-<run tag>-<thread>-<n>, n counting the thread's requests from 1, so
-- every request of every run is a new order (an order id seen before answers 200, not
-- 201). The customer is buyer-<order id>@example.com (a new friend each time, so each
-- conversion is the friend's first purchase). The referral codes are used in turn.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "redirect.lua")

wrk.method = "POST"
wrk.headers["User-Agent"] = "advocacy-bench-shop-backend/1.0"
wrk.headers["Accept"] = "application/json"
wrk.headers["Accept-Language"] = nil
wrk.headers["Content-Type"] = "application/json"

local next_thread = 0
local base_setup = setup

function setup(thread)
  base_setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
end

local base_init = init
local counter, codes, tag = 0, {}, nil

function init(args)
  base_init(args)
  tag = args[1]
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  for code in string.gmatch(args[3], "[^,]+") do
    table.insert(codes, code)
  end
  assert(tag and #codes > 0, "usage: -- <run tag> <secret key> <code>[,<code>...]")
  -- Threads start at different codes, so they do not walk the list in step.
  counter = 0
  offset = (thread_no * 97) % #codes
end

local body = '{"order_id": "%s", "amount": "49.90", "currency": "EUR", '
  .. '"customer": {"email": "buyer-%s@example.com"}, "referral_code": "%s"}'

function request()
  counter = counter + 1
  local order_id = string.format("bench-%s-%d-%d", tag, thread_no, counter)
  local code = codes[(offset + counter) % #codes + 1]
  return wrk.format(nil, nil, nil, string.format(body, order_id, order_id, code))
end
