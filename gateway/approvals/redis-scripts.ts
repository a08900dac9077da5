/**
 * The approvals' Lua scripts. Each touches one key (Redis Cluster safe). An approval is a hash: `d` its subject
 * (JSON), `s` its state, `e` its expiry, `k` its request key, `x` the decision (JSON), `u`/`v` a grant's uses left
 * and end, `c`/`cu` the claim's owner and end. Times come from the caller's clock (ARGV), like every expiry Escrow
 * writes, so that every replica and the memory store decide alike.
 */

export const PUT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 's', 'pending', 'e', ARGV[2], 'k', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`;

// A lapsed claim is pending again; a claim by the same decider is re-entrant, and its written decision is 'done'.
export const CLAIM = `
local h = redis.call('HMGET', KEYS[1], 's', 'e', 'c', 'cu')
local s, c = h[1], h[3]
local now = tonumber(ARGV[2])
if not s then return 'missing' end
if c == ARGV[1] then
  if s == 'deciding' then redis.call('HSET', KEYS[1], 'cu', ARGV[3]) return 'claimed' end
  if s == 'approved' or s == 'denied' then return 'done' end
end
if s == 'deciding' then
  if tonumber(h[4]) > now then return 'busy' end
  s = 'pending'
end
if s ~= 'pending' then return s end
if tonumber(h[2]) <= now then
  redis.call('HSET', KEYS[1], 's', 'expired')
  redis.call('HDEL', KEYS[1], 'c', 'cu')
  return 'expired!'
end
redis.call('HSET', KEYS[1], 's', 'deciding', 'c', ARGV[1], 'cu', ARGV[3])
return 'claimed'`;

// ARGV: claimant, outcome, decision JSON, uses ('' for none), validUntil, ttl.
export const COMMIT = `
local h = redis.call('HMGET', KEYS[1], 's', 'c')
if h[2] ~= ARGV[1] then return 0 end
if h[1] == ARGV[2] then return 1 end
if h[1] ~= 'deciding' then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'x', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'u', ARGV[4], 'v', ARGV[5]) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[6]) then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
return 1`;

export const UNCLAIM = `
local h = redis.call('HMGET', KEYS[1], 's', 'c')
if h[1] == 'deciding' and h[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 's', 'pending')
  redis.call('HDEL', KEYS[1], 'c', 'cu')
end
return 1`;

// ARGV: request key, now.
export const CONSUME = `
local h = redis.call('HMGET', KEYS[1], 's', 'e', 'k', 'u', 'v', 'cu')
local s = h[1]
local now = tonumber(ARGV[2])
if not s then return 'missing' end
if s == 'deciding' then
  if tonumber(h[6]) > now then return 'pending' end
  s = 'pending'
end
if s == 'pending' then
  if tonumber(h[2]) <= now then return 'overdue' end
  return 'pending'
end
if s ~= 'approved' then return s end
if h[3] ~= ARGV[1] then return 'mismatch' end
if tonumber(h[5]) <= now then return 'lapsed' end
if tonumber(h[4]) <= 0 then return 'spent' end
redis.call('HINCRBY', KEYS[1], 'u', -1)
return 'ok'`;

// ARGV: 'expired' | 'cancelled', now. Cancelling (the task closed) also takes a live claim.
export const SETTLE = `
local h = redis.call('HMGET', KEYS[1], 's', 'e', 'cu')
local s = h[1]
local now = tonumber(ARGV[2])
if not s then return 0 end
if s == 'deciding' and (ARGV[1] == 'cancelled' or tonumber(h[3]) <= now) then s = 'pending' end
if s ~= 'pending' then return 0 end
if ARGV[1] == 'expired' and tonumber(h[2]) > now then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1])
redis.call('HDEL', KEYS[1], 'c', 'cu')
return 1`;

// ARGV: field, expected ('' for unset), id, ttl.
export const BIND = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1`;

// ARGV: id, now, max, expiresAt, ttl. Prune, count and add in one step: the bound holds across replicas.
export const RESERVE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return 1`;
