/**
 * The Redis store's Lua scripts. Each touches the keys of one task only (one `{taskId}` hash tag, one Cluster
 * slot) or one index key, and each is safe to run twice: a command whose answer was lost may have run, and the
 * caller sends it again.
 */

// Write the lease only if absent and only while the task's tombstone is still the fence the issuer saw ('' =
// none): a close writes its tombstone first, so a lease written after it is refused here, atomically.
export const PUT_LEASE_IF_ABSENT = `
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], KEYS[1])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
  return 1
end
return 0`;

export const REPLACE_LEASE = `
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1`;

// Move every lease of the task aside (deleted from service, kept for its upstream revocation) under a claim, and
// return the leases this claim holds, or whose claim is stale. A ref is sha1(value):target, so two leases of
// one target (an ambient lease re-issued after a close) never overwrite each other.
export const TAKE_LEASES = `
local claim = ARGV[1] .. '|' .. ARGV[2]
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', k)
  if v then
    local ref = redis.sha1hex(v) .. ':' .. string.sub(k, string.len(ARGV[5]) + 1)
    redis.call('HSET', KEYS[2], 'v:' .. ref, v, 'c:' .. ref, claim)
  end
  redis.call('DEL', k)
end
redis.call('DEL', KEYS[1])
local out = {}
local fields = redis.call('HGETALL', KEYS[2])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'c:' then
    local owner, at = string.match(fields[i + 1], '^(.*)|(%d+)$')
    if owner == ARGV[1] or tonumber(at) + tonumber(ARGV[3]) <= tonumber(ARGV[2]) then
      local ref = string.sub(fields[i], 3)
      redis.call('HSET', KEYS[2], fields[i], claim)
      table.insert(out, ref)
      table.insert(out, redis.call('HGET', KEYS[2], 'v:' .. ref))
    end
  end
end
if #fields > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return out`;

export const SETTLE_LEASES = `
for _, ref in ipairs(ARGV) do redis.call('HDEL', KEYS[1], 'v:' .. ref, 'c:' .. ref) end
return redis.call('HLEN', KEYS[1]) / 2`;

// The child joins its parent's child set, which lives as long as the longest-lived child.
export const ADD_CHILD = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`;

// Tombstone first (kept unless ARGV[3] = '1'), never shorter-lived than the record (a record that outlived its
// tombstone would read as live again), and the revocation notice published in the same atomic step: no replica
// can miss a close that reached Redis, whatever happens to the closer afterwards. Record, tombstone and child set
// retained; children returned: a step added to the child set concurrently is either returned or sees the tombstone.
export const CLOSE_TASK = `
local record = redis.call('GET', KEYS[1])
if not record then return false end
local retain = math.max(tonumber(ARGV[2]), redis.call('PTTL', KEYS[1]))
if ARGV[3] == '1' or redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[2], ARGV[1], 'PX', retain) end
for _, k in ipairs(KEYS) do
  local ttl = redis.call('PTTL', k)
  if ttl >= 0 and ttl < retain then redis.call('PEXPIRE', k, retain) end
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
local out = {record, redis.call('GET', KEYS[2])}
for _, child in ipairs(redis.call('SMEMBERS', KEYS[3])) do table.insert(out, child) end
return out`;

// Used only to withdraw a step that was never handed out (its parent closed while it was being opened).
export const DELETE_TASK = `
local children = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return children`;

// The open-task limit in one step: prune expired, count, add. A retry with the same task id answers 1 again.
export const RESERVE_TASK = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
return 1`;

export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;
