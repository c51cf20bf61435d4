-- count_signup.lua: count one buyer sign-up against its client address's allowance, or
-- refuse it, in one step (two nodes racing cannot both take the last one).
--
-- KEYS[1]  the address's counter (keys.signup_count)
-- ARGV[1]  sign-ups allowed per window
-- ARGV[2]  the window, in milliseconds
--
-- Returns {1, count} when counted, {0, ms until the window ends} when refused.
-- A refusal changes nothing: the counter only grows for sign-ups that go ahead.

local limit, window_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= limit then
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then
    -- A counter without an expiry would refuse this address for ever: give it one.
    redis.call('PEXPIRE', KEYS[1], window_ms)
    left = window_ms
  end
  return {0, left}
end
count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], window_ms) end
return {1, count}
