/**
 * One audit batch is one Lua script: atomic (Redis runs a script whole; under `maxmemory` the script's first write,
 * an XADD, is refused before anything is written, so an OOM leaves nothing of the batch), ordered (the entries are
 * added in seq order, back to back) and idempotent (seqs this writer already wrote are skipped, so a batch whose
 * reply was lost to a timeout can be sent again without a duplicate or a reordering).
 *
 * KEYS: 1 the stream, 2 writers hash (writer → "lastSeq lastId origin"), 3 writers by last write (zset, for
 * pruning), 4 meta hash (epoch, trimmedBefore, trimmed). All four share the stream's hash slot.
 * ARGV: 1 writer, 2 first seq, 3 retention ms (0: none), 4 max entries, 5 the writer's epoch, 6 the writer's copy of
 * its state, 7… the lines. Each entry holds `p`, the id of the writer's previous entry ("0" before its first
 * event, "" when this stream never held it), and `e`, the line.
 * Returns {epoch, state, skipped, trimmed, length}; fails with `ESCROWFULL` rather than evict at the size bound.
 * Redis lets every write through once a script has written anything, so nothing may write before the first XADD
 * (test/unit/audit/stream-script.test.ts runs it under maxmemory with retention on).
 */
export const APPEND_AUDIT_BATCH = `
local stream, writers, active, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local writer, first = ARGV[1], tonumber(ARGV[2])
local retention, maxLen = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = #ARGV - 6
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('HGET', meta, 'epoch')
local state = redis.call('HGET', writers, writer)
if not state and epoch and epoch == ARGV[5] and ARGV[6] ~= '' then
  -- Pruned once retention had removed every entry of this writer: the writer kept a copy of where it was.
  state = ARGV[6]
end
local last, lastId, origin = -1, '', first
if state then
  local a, b, c = string.match(state, '^(%d+) (%S+) (%d+)$')
  last, lastId, origin = tonumber(a), b, tonumber(c)
end
local skip = math.max(0, math.min(n, last - first + 1))

-- Retention: entries older than the window go, with a record of where the stream now starts (verify tells a
-- trimmed head from a lost one by it), and writers all of whose entries are gone are pruned.
local function trim()
  if retention <= 0 then return 0 end
  local threshold = now - retention
  local trimmed = redis.call('XTRIM', stream, 'MINID', '~', threshold)
  if trimmed > 0 then
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    local before = head[1] and head[1][1] or (threshold .. '-0')
    redis.call('HSET', meta, 'trimmedBefore', before)
    redis.call('HINCRBY', meta, 'trimmed', trimmed)
    local ms = tonumber(string.match(before, '^(%d+)'))
    local gone = redis.call('ZRANGEBYSCORE', active, '-inf', '(' .. ms, 'LIMIT', 0, 500)
    if #gone > 0 then
      redis.call('HDEL', writers, unpack(gone))
      redis.call('ZREM', active, unpack(gone))
    end
  end
  return trimmed
end

if n - skip > 0 and redis.call('XLEN', stream) + n - skip > maxLen then
  trim()
  if redis.call('XLEN', stream) + n - skip > maxLen then
    return redis.error_reply('ESCROWFULL the audit stream holds audit.streamMaxLen entries')
  end
end
if n - skip == 0 then
  local trimmed = trim()
  return {epoch or '', state or '', skip, trimmed, redis.call('XLEN', stream)}
end
-- The first XADD is the script's first write: Redis refuses it under maxmemory before anything is written (a
-- write before it would let every later write through), so a batch is written whole or not at all.
local prev = lastId
if first + skip == 0 then prev = '0' end
local added = redis.pcall('XADD', stream, '*', 'p', prev, 'e', ARGV[7 + skip])
if type(added) == 'table' and added.err then
  trim() -- what retention frees lets the retry through
  return added
end
prev = added
for i = skip + 2, n do
  prev = redis.call('XADD', stream, '*', 'p', prev, 'e', ARGV[6 + i])
end
state = (first + n - 1) .. ' ' .. prev .. ' ' .. origin
redis.call('HSET', writers, writer, state)
redis.call('ZADD', active, now, writer)
if not epoch then
  epoch = t[1] .. '.' .. t[2]
  redis.call('HSET', meta, 'epoch', epoch)
end
local trimmed = trim()
return {epoch, state, skip, trimmed, redis.call('XLEN', stream)}`;
