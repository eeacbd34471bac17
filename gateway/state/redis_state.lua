@HEAD@
-- The state code: every op of one exchange, in one call of run. gateway/state/redis_store.py
-- fills in the constants (names between at-signs), packs ARGV, and makes two forms of it: a
-- function library (HEAD names it, TAIL registers run), where the helpers below are built once
-- at load, and a script for EVAL (TAIL: return run(KEYS, ARGV)).
--
-- KEYS[i] is op i's key: every key the code touches is declared, so on a Redis Cluster a call
-- holds the keys of one slot (the client sends one call per slot). ARGV: now, then per op its
-- code and fields:
-- B record | S birth loc place lane fixed | H account session |
-- A <one member per kind> loc | T record | C member | M target kind |
-- P peers | K record tag, decision, until. Set members arrive as their digests
-- (SW bytes in a Shared op, W in Account and Mark ops; "" in an Account op:
-- nothing seen), a Mark's kind as its 1-based
-- ACCOUNT_KINDS index. Texts answered back as lists (target records, crowd
-- members, peers) travel as *tokens*: the text itself, or ESC and its JSON when
-- it holds SEP or ESC, so a token never holds SEP; a list of them is kept and
-- answered as SEP, then each token followed by SEP ("P" sends its peers so).
--
-- The reply is ONE string, read in order (see ``decode``): per op its answer as
-- a packed head (little-endian), then the texts that head gives the lengths of
-- (-1: none). Shared '<HHHHi4' counts, sticky; Session '<i4i4i4HHH' birth, loc,
-- sticky, times' bytes, moves, switches, then those texts and the times (packed doubles,
-- newest first); Account '<' 13 x 'H', then 4 x 'i4' hour_n, hour_prev, day_n,
-- day_prev, then 'HI4i4i4I4' the bytes of times, hourly, loc, sticky, peers,
-- then those five; Target 'I4' then the list (oldest first); Crowd 'i4' (-1:
-- full) then the in-window part of the list.
--
-- Records are raw strings: a 2-byte tag (its digit the layout version), a
-- packed head (little-endian), then sections whose lengths the head gives
-- (-1: none; a sticky decision goes with its until):
--   shared   'H6' SHARED_HEAD: expiry, until, px (the op time Redis's own expiry of
--            the key covers), has sticky, its length, accounts and the ring's
--            start, sessions and theirs; the sticky decision; per set a ring of
--            slots, each a digest and its time (see ring_time). A shared record
--            of IN_PLACE bytes or more is edited in place: SETRANGE of its head
--            and of the slots that changed, and PEXPIRE (with SLACK more) only
--            once its life outgrows px
--   session  'S4' SESSION_HEAD: expiry, until, last, sticky, birth, loc, place, lane
--            lengths, times', moves' and switches' bytes, fixed; then those sections
--            (times: packed doubles newest first; moves, switches: their times ascending)
--   account  'A5' ACCOUNT_HEAD: expiry, until, last, hour, its count, previous,
--            day, its count, previous, sticky, loc, times, hourly, peers lengths,
--            the number of kinds K, then K x 'H' members per kind; then those
--            sections, then per kind its digests and its times. hourly: per
--            clock hour with actions '<ddd' hour, slots counted, last slot
--   target   'T2' '<dH' expiry, records; the records' list, oldest first
--   crowd    'C2' '<dH' expiry, members; their times; their tokens' lengths
--            ('<I4' each); their list, least recently seen first
-- In the script a record is a table: [1] tag [2] expiry [3] sticky or false
-- [4] until, then its fields (see fresh); an account's sets stay one string (S).
-- A recency set is least recently seen first: the clamp makes that time order
-- too, so windows are counted from the newest end or by bisection. The layouts
-- before these (msgpack tables tagged S2, A4, T1, C1; shared records H4, and H5
-- with W-byte digests; sessions S3, without switches) are converted when read; any
-- other value reads as absent.
local a, K, raw, now  -- this call's ARGV, KEYS, stored texts by key, clock: set by run
-- bound by run on its first call: a library is loaded where no global is visible
local call, floor, find, unpack, byte, spack, sunpack, ssub, concat

local SESSION_TTL, RECENT_TTL, TARGET_TTL, DAY, HOUR = @SESSION_TTL@, @RECENT_TTL@, @TARGET_TTL@, @DAY@, @HOUR@
local TIMES_MAX, TARGET_MAX, SHARED_CAP, ACCOUNT_CAP = @TIMES_MAX@, @TARGET_MAX@, @SHARED_CAP@, @ACCOUNT_CAP@
local SLOT_S, HOURS, NKINDS = @SLOT_S@, @HOURS@, @NKINDS@
local CROWD_WINDOW, CROWD_CAP = @CROWD_WINDOW@, @CROWD_CAP@
local A10, A1H, A24, S1H = @SHARED_ACCOUNT_WINDOWS@, @SHARED_SESSION_WINDOW@
local WINDOWS, NWINDOWS = @WINDOWS@, '@NWINDOWS@'  -- every kind's windows in a row; how many each kind has
local MARGIN_MS, MAX_MS, SLACK, W, SW = @MARGIN_MS@, @MAX_MS@, @SLACK_S@, @DIGEST_CHARS@, @SHARED_DIGEST_CHARS@
local MOVE_GAP, MOVES_MAX = @MOVE_GAP@, @MOVES_MAX@
local SEP, ESC = '\31', '\30'

local SHARED_HEAD, SHARED_HEAD_H5, SESSION_HEAD, ACCOUNT_HEAD, LIST_HEAD = '<dddBHHHHH', '<ddBHHHHH', '<dddi4i4i4I4I4HHHB', '<dddddddddi4i4HI4I4B', '<dH'
local SESSION_HEAD_S3 = '<dddi4i4i4I4I4HHB'  -- before switches
local SLOT, IN_PLACE = SW + 8, @IN_PLACE@  -- a shared set's slot: its member's digest, its time
local KINDS_HEAD, ANSWER_COUNTS = '@KINDS_HEAD@', '@ANSWER_COUNTS@'

local function fresh(tag)
  if tag == 'H6' then return {tag, 0, false, 0, v = '', off = 1, na = 0, sa = 0, ns = 0, ss = 0, px = 0} end
  if tag == 'S4' then return {tag, 0, false, 0, false, '', false, 0, '', '', false, '', ''} end
  if tag == 'A5' then
    local ns = {}
    for kind = 1, NKINDS do ns[kind] = 0 end
    return {tag, 0, false, 0, last = 0, hour = 0, hn = 0, hp = 0, day = 0, dn = 0, dp = 0, times = '', loc = false,
            hourly = '', peers = SEP, S = '', ns = ns}
  end
  if tag == 'C2' then return {tag, 0, false, 0, SEP, '', ''} end
  return {tag, 0, false, 0, SEP, 0}  -- T2
end

-- the text of length n at i of v, or false for -1; and where the next starts
local function text(v, i, n)
  if n < 0 then return false, i end
  return ssub(v, i, i + n - 1), i + n
end

local function size(s)
  if s then return #s end
  return -1
end

-- a text as a token (see the module): ESC and its JSON when it holds SEP or ESC
local function token(s)
  if find(s, '[\30\31]') then return ESC .. cjson.encode(s) end
  return s
end

-- a record of the layout before this one (a msgpack table), as this layout's table
local function upgrade(t)
  local tag = t[1]
  if tag == 'S2' then t[1] = 'S4'; t[13] = ''; return t end
  if tag == 'A4' then
    local sets, ns, hourly, peers = t[8], {}, {}, {SEP}
    for kind = 1, NKINDS do
      sets[2 * kind - 1] = sets[2 * kind - 1] or ''
      sets[2 * kind] = sets[2 * kind] or ''
      ns[kind] = #sets[2 * kind] / 8
    end
    for j = 1, #t[9], 3 do hourly[#hourly + 1] = spack('<ddd', t[9][j], t[9][j + 1], t[9][j + 2]) end
    for _, s in ipairs(t[16] or {}) do peers[#peers + 1] = token(s) .. SEP end
    return {'A5', t[2], t[3], t[4], last = t[7], hour = t[10], hn = t[11], hp = t[12], day = t[13], dn = t[14],
            dp = t[15], times = t[5], loc = t[6], hourly = concat(hourly), peers = concat(peers),
            S = concat(sets, '', 1, 2 * NKINDS), ns = ns}
  end
  if tag == 'T1' then
    local d = {SEP}
    for j = #t[5], 1, -1 do d[#d + 1] = token(t[5][j]) .. SEP end
    return {'T2', t[2], false, 0, concat(d), #t[5]}
  end
  if tag == 'C1' then
    local d, L = {SEP}, {}
    for j, s in ipairs(t[5]) do
      s = token(s)
      d[j + 1] = s .. SEP; L[j] = spack('<I4', #s)
    end
    return {'C2', t[2], false, 0, concat(d), t[6], concat(L)}
  end
  return false
end

-- A record as a table, or false where the value is not one this code wrote whole (a truncated
-- or foreign value under a known tag): it reads as absent and is replaced, never an error
local function read(v)
  local tag = ssub(v, 1, 2)
  if tag == 'H6' then
    local expiry, until_, px, has, length, na, sa, ns, ss, at = sunpack(SHARED_HEAD, v, 3)
    if na > SHARED_CAP or ns > SHARED_CAP or sa >= math.max(na, 1) or ss >= math.max(ns, 1)
        or #v ~= at + length - 1 + SLOT * (na + ns) then
      return false
    end
    local sticky = false
    if has == 1 then sticky = ssub(v, at, at + length - 1) end
    return {'H6', expiry, sticky, until_, v = v, off = at + length, na = na, sa = sa, ns = ns, ss = ss, px = px,
            built = true, stored = true}
  end
  if tag == 'H5' or tag == 'H4' then  -- the layouts before: digests of W bytes (SW kept); H4 sets not rings
    local expiry, until_, has, length, na, sa, ns, ss, at
    if tag == 'H5' then
      expiry, until_, has, length, na, sa, ns, ss, at = sunpack(SHARED_HEAD_H5, v, 3)
      if na > SHARED_CAP or ns > SHARED_CAP or sa >= math.max(na, 1) or ss >= math.max(ns, 1)
          or #v ~= at + length - 1 + (W + 8) * (na + ns) then
        return false
      end
    else
      expiry, until_, has, length, na, ns, at = sunpack('<ddBHHH', v, 3)
      sa, ss = 0, 0
    end
    local sticky, parts, m = false, {}, at + length
    if has == 1 then sticky = ssub(v, at, at + length - 1) end
    for _, n in ipairs({na, ns}) do
      for i = 0, n - 1 do
        local d, t  -- H5: slots of a digest and its time; H4: the digests, then the times
        if tag == 'H5' then d, t = m + (W + 8) * i, m + (W + 8) * i + W else d, t = m + W * i, m + W * n + 8 * i end
        parts[#parts + 1] = ssub(v, d, d + SW - 1); parts[#parts + 1] = ssub(v, t, t + 7)
      end
      m = m + (W + 8) * n
    end
    return {'H6', expiry, sticky, until_, v = concat(parts), off = 1, na = na, sa = sa, ns = ns, ss = ss, px = 0}
  end
  if tag == 'S4' or tag == 'S3' then  -- S3: before switches
    local expiry, until_, last, ls, lb, ll, lp, ln, lt, lm, lw, fixed, at
    if tag == 'S4' then
      expiry, until_, last, ls, lb, ll, lp, ln, lt, lm, lw, fixed, at = sunpack(SESSION_HEAD, v, 3)
    else
      lw = 0
      expiry, until_, last, ls, lb, ll, lp, ln, lt, lm, fixed, at = sunpack(SESSION_HEAD_S3, v, 3)
    end
    local sticky, birth, loc, place, lane, times, moves, switches
    sticky, at = text(v, at, ls); birth, at = text(v, at, lb); loc, at = text(v, at, ll)
    place, at = text(v, at, lp); lane, at = text(v, at, ln); times, at = text(v, at, lt); moves, at = text(v, at, lm)
    switches, at = text(v, at, lw)
    if at ~= #v + 1 or lt % 8 ~= 0 or lm % 8 ~= 0 or lw % 8 ~= 0 then return false end
    return {'S4', expiry, sticky, until_, birth, times, loc, last, place, lane, fixed == 1, moves, switches}
  end
  if tag == 'A5' then
    local e, u, last, hour, hn, hp, day, dn, dp, ls, ll, lt, lh, lp, nk, at = sunpack(ACCOUNT_HEAD, v, 3)
    local got = {sunpack(nk == NKINDS and KINDS_HEAD or '<' .. string.rep('H', nk), v, at)}
    local ns, length = {}, 0  -- a kind added since the record was written has an empty set; one dropped, none
    for kind = 1, NKINDS do
      local n = 0
      if kind <= nk then n = got[kind] end
      ns[kind] = n
      length = length + (W + 8) * n
    end
    local stored = length  -- the sets' bytes, a dropped kind's too
    for kind = NKINDS + 1, nk do stored = stored + (W + 8) * got[kind] end
    local sticky, loc, times, hourly, peers
    sticky, at = text(v, got[nk + 1], ls); loc, at = text(v, at, ll); times, at = text(v, at, lt)
    hourly, at = text(v, at, lh); peers, at = text(v, at, lp)
    if at + stored ~= #v + 1 or lt % 8 ~= 0 or lh % 24 ~= 0 then return false end
    return {'A5', e, sticky, u, last = last, hour = hour, hn = hn, hp = hp, day = day, dn = dn, dp = dp, times = times,
            loc = loc, hourly = hourly, peers = peers, S = ssub(v, at, at + length - 1), ns = ns}
  end
  if tag == 'T2' then
    local expiry, n, at = sunpack(LIST_HEAD, v, 3)
    local d = ssub(v, at)  -- SEP, then each record followed by SEP
    if n > TARGET_MAX or byte(d, 1) ~= 31 or byte(d, #d) ~= 31 or (n == 0) ~= (#d == 1) then return false end
    return {'T2', expiry, false, 0, d, n}
  end
  if tag == 'C2' then
    local expiry, n, at = sunpack(LIST_HEAD, v, 3)
    local T, L
    T, at = text(v, at, 8 * n); L, at = text(v, at, 4 * n)
    local d = ssub(v, at)
    if n > CROWD_CAP or #T ~= 8 * n or #L ~= 4 * n or byte(d, 1) ~= 31 or byte(d, #d) ~= 31 then return false end
    return {'C2', expiry, false, 0, d, T, L}
  end
  local ok, t = pcall(cmsgpack.unpack, v)
  if not (ok and type(t) == 'table') then return false end
  ok, t = pcall(upgrade, t)
  return ok and t
end

local function parse(v)
  local ok, r = pcall(read, v)  -- a head cut short fails in struct.unpack: absent too
  return ok and r
end

-- a shared record's head: tag, fields, sticky decision
local function shared_head(r)
  local sticky = r[3] or ''
  return 'H6' .. spack(SHARED_HEAD, r[2], r[4], r.px, r[3] and 1 or 0, #sticky, r.na, r.sa, r.ns, r.ss) .. sticky
end

local function serialize(r)
  local tag = r[1]
  if tag == 'H6' then
    if r.built then return r.v end
    r.px = r[2] + SLACK
    return shared_head(r) .. ssub(r.v, r.off)
  end
  if tag == 'S4' then
    local sticky, birth, loc = r[3], r[5], r[7]
    return 'S4' .. spack(SESSION_HEAD, r[2], r[4], r[8], size(sticky), size(birth), size(loc), #r[9], #r[10], #r[6],
                         #r[12], #r[13], r[11] and 1 or 0) .. (sticky or '') .. (birth or '') .. (loc or '') .. r[9]
                         .. r[10] .. r[6] .. r[12] .. r[13]
  end
  if tag == 'A5' then
    local sticky, loc = r[3], r.loc
    local head = 'A5' .. spack(ACCOUNT_HEAD, r[2], r[4], r.last, r.hour, r.hn, r.hp, r.day, r.dn, r.dp, size(sticky),
                               size(loc), #r.times, #r.hourly, #r.peers, NKINDS) .. spack(KINDS_HEAD, unpack(r.ns))
                         .. (sticky or '') .. (loc or '') .. r.times .. r.hourly .. r.peers
    if r.S then return head .. r.S end
    local parts = r.parts  -- the sets' pieces (see_sets): the record in one copy
    parts[0] = head
    return concat(parts, '', 0, #parts)
  end
  if tag == 'T2' then return 'T2' .. spack(LIST_HEAD, r[2], r[6]) .. r[5] end
  return 'C2' .. spack(LIST_HEAD, r[2], #r[6] / 8) .. r[6] .. r[7] .. r[5]
end

-- the live record of this kind under k, else a fresh one; every record taken is written back
local recs, order  -- this call's records by key, and the keys in the order first taken
local function take(k, tag)
  local r = recs[k]
  if r == nil then
    r = false
    local v = raw[k]
    if v then r = parse(v) end
    order[#order + 1] = k
  elseif r and r.stale then  -- edited in place in Redis: read back
    local pexpire = r.pexpire
    r = parse(call('GET', k))
    if r then r.pexpire = pexpire end
  end
  if not (r and r[1] == tag and r[2] > now) then r = fresh(tag) end
  recs[k] = r
  return r
end

local function live_sticky(r)
  if r[3] and now < r[4] then return r[3] end
  return false
end

-- A recency set is two strings, least recently seen first: M, its members' digests (W
-- bytes each, made by the caller), and T, their times (little-endian doubles, ascending by
-- the clamp). Every step is a C string operation: no Lua value per member.

-- entries among the n times at t0 of v whose time is > now - w; most windows hold all of a
-- set or its last few entries, else bisect (times ascend)
local function count_at(v, t0, n, w)
  if n == 0 then return 0 end
  local cut = now - w
  if sunpack('<d', v, t0) > cut then return n end
  for i = n - 1, n - 4, -1 do
    if sunpack('<d', v, t0 + 8 * i) <= cut then return n - 1 - i end
  end
  local lo, hi = 0, n  -- entries with time <= cut
  while lo < hi do
    local mid = floor((lo + hi + 1) / 2)
    if sunpack('<d', v, t0 + 8 * mid - 8) <= cut then lo = mid else hi = mid - 1 end
  end
  return n - lo
end

local function count(T, w)
  return count_at(T, 1, #T / 8, w)
end

local function newest_at(v, t0, n, t)
  if n > 0 then
    local last = sunpack('<d', v, t0 + 8 * n - 8)
    if last > t then return last end
  end
  return t
end

local function newest(T, t)
  return newest_at(T, 1, #T / 8, t)
end

local function touch(r, expiry)
  if r[2] < expiry then r[2] = expiry end
end

-- a session's moves or switches (their times, ascending doubles): this op's added when it
-- is one, the newest MOVES_MAX kept, those a day old dropped
local function events(times, happened)
  if happened then
    times = times .. spack('<d', now)
    if #times > 8 * MOVES_MAX then times = ssub(times, 9) end
  end
  while #times > 0 and sunpack('<d', times) <= now - DAY do times = ssub(times, 9) end
  return times
end

-- an action counted into its clock bucket: the bucket, its count, the count of the one just before
local function bucket(b, stored, n, previous)
  if b == stored then return stored, n + 1, previous end
  if b == stored + 1 then return b, 1, n end
  return b, 1, 0
end

-- A shared entity's set is a ring of n slots at m of v (a digest, then its time), from slot s
-- (its least recently seen) on: logical entry j is slot (s + j) % n, and times ascend with j.
-- A member seen again moves to the newest end by moving the shorter side of the ring by one
-- slot; past the cap a new member takes the oldest's slot. So a busy entity's record changes
-- in a few slots, which the script writes in place (SETRANGE) instead of rewriting it whole.
local function ring_time(v, m, n, s, j)
  return (sunpack('<d', v, m + SLOT * ((s + j) % n) + SW))  -- the time alone, not its next position too
end

-- entries whose time is > now - w (as count_at, on the ring)
local function ring_count(v, m, n, s, w)
  if n == 0 then return 0 end
  local cut = now - w
  if ring_time(v, m, n, s, 0) > cut then return n end
  for j = n - 1, n - 4, -1 do
    if ring_time(v, m, n, s, j) <= cut then return n - 1 - j end
  end
  local lo, hi = 0, n  -- entries with time <= cut
  while lo < hi do
    local mid = floor((lo + hi + 1) / 2)
    if ring_time(v, m, n, s, mid - 1) <= cut then lo = mid else hi = mid - 1 end
  end
  return n - lo
end

-- the entry (from 0) of digest d in the ring, or -1
local function ring_index(v, m, n, s, d)
  local stop = m + SLOT * n
  local at = find(v, d, m, true)
  while at and at < stop do
    if (at - m) % SLOT == 0 then return ((at - m) / SLOT - s) % n end
    at = find(v, d, at + 1, true)
  end
  return -1
end

-- the slots of entries x..y (none when y < x)
local function ring_bytes(v, m, n, s, x, y)
  if y < x then return '' end
  local first, c = (s + x) % n, y - x + 1
  if first + c <= n then return ssub(v, m + SLOT * first, m + SLOT * (first + c) - 1) end
  return ssub(v, m + SLOT * first, m + SLOT * n - 1) .. ssub(v, m, m + SLOT * (first + c - n) - 1)
end

-- slots C written from entry x on, as edits {position in v, bytes} (two where the ring wraps)
local function ring_write(edits, m, n, s, x, C)
  local first, c = (s + x) % n, #C / SLOT
  if first + c <= n then
    edits[#edits + 1] = m + SLOT * first; edits[#edits + 1] = C
  else
    local split = SLOT * (n - first)
    edits[#edits + 1] = m + SLOT * first; edits[#edits + 1] = ssub(C, 1, split)
    edits[#edits + 1] = m; edits[#edits + 1] = ssub(C, split + 1)
  end
end

-- see d (entry j, or -1) at time t, in place: the ring keeps its n slots; returns its new start
local function ring_see(edits, v, m, n, s, j, d, t)
  local time = spack('<d', t)
  if j >= 0 and j == n - 1 then
    edits[#edits + 1] = m + SLOT * ((s + j) % n) + SW; edits[#edits + 1] = time
    return s
  end
  local slot = d .. time
  if j >= 0 and n - 1 - j <= j then  -- the newer side moves down a slot
    ring_write(edits, m, n, s, j, ring_bytes(v, m, n, s, j + 1, n - 1) .. slot)
    return s
  elseif j >= 0 then  -- the older side moves up a slot; d takes the oldest's, which becomes the newest
    ring_write(edits, m, n, s, 0, slot .. ring_bytes(v, m, n, s, 0, j - 1))
  else  -- a new member at the cap takes the oldest's slot
    ring_write(edits, m, n, s, 0, slot)
  end
  return (s + 1) % n
end

-- see d (entry j, or -1) at time t, rebuilt: the ring's slots from its oldest on, d's last;
-- past cap the least recently seen are dropped. Returns them, their count, the entries dropped
local function ring_rebuilt(v, m, n, s, j, d, t, cap)
  local body, drop = '', 0
  if j >= 0 then
    body = ring_bytes(v, m, n, s, 0, j - 1) .. ring_bytes(v, m, n, s, j + 1, n - 1)
    n = n - 1
  else
    if n >= cap then drop = n + 1 - cap end
    body = ring_bytes(v, m, n, s, drop, n - 1)
  end
  return body .. d .. spack('<d', t), n + 1 - drop, drop
end

-- An account's sets are one string S: per kind its digests, then its times (ns[kind] entries).
-- Sees member d (a digest, or '' for none) into each kind's set, from a[p + 1] on, or only
-- into the set of kind ``only``. The new S is left as the pieces that make it (r.S false,
-- r.parts), which the record is written from: S is copied once, not twice. Fills ``counts``
-- (when a table) with the counts over each kind's windows, after seeing.
local function see_sets(r, p, only, counts)
  local S, ns, parts = r.S or concat(r.parts), r.ns, {}
  local from, at, w = 1, 1, 1  -- from: the first byte of S not yet in parts; at: this kind's set
  for kind = 1, NKINDS do
    local n, d = ns[kind], ''
    local tm = at + W * n
    local te = tm + 8 * n
    if not only then d = a[p + kind] elseif kind == only then d = a[p + 1] end
    local i, drop = -1, 0  -- d's entry before, and the entries dropped past the cap
    if d ~= '' then
      local t = now  -- clamped on the set's newest
      if n > 0 then
        local last = sunpack('<d', S, te - 8)
        if last > t then t = last end
        local x = find(S, d, at, true)
        while x and x < tm do
          if (x - at) % W == 0 then i = (x - at) / W; break end
          x = find(S, d, x + 1, true)
        end
      end
      if i >= 0 and i == n - 1 then  -- already the newest: only its time changes
        parts[#parts + 1] = ssub(S, from, te - 9)
      elseif i >= 0 then
        parts[#parts + 1] = ssub(S, from, at + W * i - 1); parts[#parts + 1] = ssub(S, at + W * (i + 1), tm - 1)
        parts[#parts + 1] = d
        parts[#parts + 1] = ssub(S, tm, tm + 8 * i - 1); parts[#parts + 1] = ssub(S, tm + 8 * (i + 1), te - 1)
      else
        if n >= ACCOUNT_CAP then drop = n + 1 - ACCOUNT_CAP end
        if at > from then parts[#parts + 1] = ssub(S, from, at - 1) end
        parts[#parts + 1] = ssub(S, at + W * drop, tm - 1); parts[#parts + 1] = d
        parts[#parts + 1] = ssub(S, tm + 8 * drop, te - 1)
        ns[kind] = n + 1 - drop
      end
      parts[#parts + 1] = spack('<d', t)
      from = te
    end
    local last_window = w + byte(NWINDOWS, kind) - 49
    if counts then
      -- over each window: the old set's count, less the entry d left (or those dropped) when
      -- it counted, plus d (its time is at least now); old times ascend, so the first n - c
      -- are the ones out of the window
      local oldest = n > 0 and sunpack('<d', S, tm)
      for j = w, last_window do
        local c = 0
        if n > 0 then
          if oldest > now - WINDOWS[j] then c = n else c = count_at(S, tm, n, WINDOWS[j]) end
        end
        if d ~= '' then
          if i >= 0 then
            if i >= n - c then c = c - 1 end
          elseif drop > n - c then
            c = c - (drop - (n - c))
          end
          c = c + 1
        end
        counts[#counts + 1] = c
      end
    end
    w = last_window + 1
    at = te
  end
  if from <= #S then parts[#parts + 1] = ssub(S, from) end
  r.S, r.parts = false, parts
end

-- Redis's own expiry for a record to live until op time t: its life left plus a margin, in
-- milliseconds, as the text Redis takes (a number costs more to convert; the few values in
-- use are kept)
local PX, PXN = {}, 0
local function px(t)
  local ms = math.ceil((t - now) * 1000) + MARGIN_MS
  if not (ms < MAX_MS) then ms = MAX_MS end
  local text = PX[ms]
  if not text then
    if PXN >= 64 then PX, PXN = {}, 0 end
    text = string.format('%d', ms)
    PX[ms], PXN = text, PXN + 1
  end
  return text
end

local function run(keys, args)
  if not call then
    call, floor, find, unpack, byte = redis.call, math.floor, string.find, _G.unpack, string.byte  -- unpack: the global
    spack, sunpack, ssub, concat = struct.pack, struct.unpack, string.sub, table.concat
  end
  a, K, raw = args, keys, {}
  for i = 1, #K, 1000 do  -- every key's stored text, read up front (in chunks: unpack has a stack limit)
    local j = math.min(i + 999, #K)
    local got = call('MGET', unpack(K, i, j))
    for x = i, j do raw[K[x]] = got[x - i + 1] end
  end
  now = tonumber(a[1])
  recs, order = {}, {}
  local out = {}
  local p = 2
  for i = 1, #K do
    local k, code = K[i], a[p]
    if code == 'H' then
      local r = take(k, 'H6')
      local e = now + RECENT_TTL
      if r[2] < e then r[2] = e end
      local v, off, na, sa, ns, ss, da, ds = r.v, r.off, r.na, r.sa, r.ns, r.ss, a[p + 1], a[p + 2]
      local sm = off + SLOT * na
      -- each set's newest time (the clamp) and counts over its windows, before seeing: all its
      -- entries when its oldest is in the window (the usual case), else by ring_count
      local ta, ts, c10, c1h, c24, c1s = now, now, 0, 0, 0, 0
      if na > 0 then
        local newest, oldest = sunpack('<d', v, off + SLOT * ((sa + na - 1) % na) + SW), sunpack('<d', v, off + SLOT * sa + SW)
        if newest > now then ta = newest end
        if oldest > now - A10 then c10, c1h, c24 = na, na, na else
          c10 = ring_count(v, off, na, sa, A10)
          if oldest > now - A1H then c1h = na else c1h = ring_count(v, off, na, sa, A1H) end
          if oldest > now - A24 then c24 = na else c24 = ring_count(v, off, na, sa, A24) end
        end
      end
      if ns > 0 then
        local newest, oldest = sunpack('<d', v, sm + SLOT * ((ss + ns - 1) % ns) + SW), sunpack('<d', v, sm + SLOT * ss + SW)
        if newest > now then ts = newest end
        if oldest > now - S1H then c1s = ns else c1s = ring_count(v, sm, ns, ss, S1H) end
      end
      local ja, js = ring_index(v, off, na, sa, da), ring_index(v, sm, ns, ss, ds)
      if r.stored and #v >= IN_PLACE and (ja >= 0 or na == SHARED_CAP) and (js >= 0 or ns == SHARED_CAP) then
        local edits = {}
        r.sa = ring_see(edits, v, off, na, sa, ja, da, ta)
        r.ss = ring_see(edits, v, sm, ns, ss, js, ds, ts)
        if r.px < r[2] then  -- Redis's own expiry falls short of the record's life: extend it, with slack
          r.px, r.pexpire = r[2] + SLACK, true
        end
        call('SETRANGE', k, 0, shared_head(r))
        for x = 1, #edits, 2 do call('SETRANGE', k, edits[x] - 1, edits[x + 1]) end
        r.stale = true
      else
        local ra, rs
        ra, r.na = ring_rebuilt(v, off, na, sa, ja, da, ta, SHARED_CAP)
        rs, r.ns = ring_rebuilt(v, sm, ns, ss, js, ds, ts, SHARED_CAP)
        r.sa, r.ss, r.px = 0, 0, r[2] + SLACK
        local head = shared_head(r)
        r.v, r.off, r.built, r.stored = head .. ra .. rs, #head + 1, true, false
      end
      -- after seeing: the member counts (its time is at least now); the entry it left, or the
      -- oldest, dropped past the cap, no longer (the first n - c entries are out of the window)
      if ja >= 0 then
        if ja >= na - c10 then c10 = c10 - 1 end
        if ja >= na - c1h then c1h = c1h - 1 end
        if ja >= na - c24 then c24 = c24 - 1 end
      elseif na == SHARED_CAP then
        if c10 == na then c10 = c10 - 1 end
        if c1h == na then c1h = c1h - 1 end
        if c24 == na then c24 = c24 - 1 end
      end
      if js >= 0 then
        if js >= ns - c1s then c1s = c1s - 1 end
      elseif ns == SHARED_CAP and c1s == ns then
        c1s = c1s - 1
      end
      local sticky = r[3]
      if sticky and now < r[4] then
        out[#out + 1] = spack('<HHHHi4', c10 + 1, c1h + 1, c24 + 1, c1s + 1, #sticky); out[#out + 1] = sticky
      else
        out[#out + 1] = spack('<HHHHi4', c10 + 1, c1h + 1, c24 + 1, c1s + 1, -1)
      end
      p = p + 3
    elseif code == 'S' then
      local r = take(k, 'S4')
      local birth = r[5]
      if not r[5] and a[p + 1] ~= '' then r[5] = a[p + 1] end
      if r[8] <= now - RECENT_TTL then r[6] = ''; r[7] = false end
      local times, loc, sticky = r[6], r[7], live_sticky(r)
      r[6] = spack('<d', now) .. ssub(times, 1, 8 * (TIMES_MAX - 1))
      r[7] = a[p + 2]
      -- moves: {place, lane, fixed} of the last use, and the moves' times (ascending doubles)
      local place, lane, fixed = a[p + 3], a[p + 4], a[p + 5] == '1'
      local moves = events(r[12], fixed and r[11] and r[10] == lane and r[9] ~= place and now - r[8] < MOVE_GAP)
      -- switches: the device (lane) changed from the last use (both given)
      local switches = events(r[13], lane ~= '' and r[10] ~= '' and lane ~= r[10])
      r[9], r[10], r[11], r[12], r[13] = place, lane, fixed, moves, switches
      out[#out + 1] = spack('<i4i4i4HHH', size(birth), size(loc), size(sticky), #times, #moves / 8, #switches / 8)
      if birth then out[#out + 1] = birth end
      if loc then out[#out + 1] = loc end
      if sticky then out[#out + 1] = sticky end
      out[#out + 1] = times
      if now > r[8] then r[8] = now end
      touch(r, now + SESSION_TTL)
      p = p + 6
    elseif code == 'A' then
      local r = take(k, 'A5')
      if r.last <= now - RECENT_TTL then r.times = ''; r.loc = false end
      local head = {}
      see_sets(r, p, false, head)
      -- active slots per clock hour: '<ddd' hour, slots counted, last slot counted, per entry
      local hourly, hour, slot = r.hourly, floor(now / HOUR), floor(now / SLOT_S)
      local n = #hourly
      local newest_hour, slots, last_slot = 0, 0, 0
      if n > 0 then newest_hour, slots, last_slot = sunpack('<ddd', hourly, n - 23) end
      if n > 0 and newest_hour == hour then
        if slot > last_slot then hourly = ssub(hourly, 1, n - 24) .. spack('<ddd', hour, slots + 1, slot) end
      else
        hourly = hourly .. spack('<ddd', hour, 1, slot)
        if sunpack('<d', hourly) <= hour - HOURS then
          local kept = {}
          for j = 1, #hourly, 24 do
            if sunpack('<d', hourly, j) > hour - HOURS then kept[#kept + 1] = ssub(hourly, j, j + 23) end
          end
          hourly = concat(kept)
        end
        if #hourly > 24 * HOURS then hourly = ssub(hourly, #hourly - 24 * HOURS + 1) end  -- hours out of order
      end
      r.hourly = hourly
      r.hour, r.hn, r.hp = bucket(hour, r.hour, r.hn, r.hp)
      r.day, r.dn, r.dp = bucket(floor(now / DAY), r.day, r.dn, r.dp)
      local times, loc, sticky, peers = r.times, r.loc, live_sticky(r), r.peers
      local m = #head
      head[m + 1], head[m + 2], head[m + 3], head[m + 4] = r.hn, r.hp, r.dn, r.dp
      head[m + 5], head[m + 6], head[m + 7], head[m + 8], head[m + 9] = #times, #hourly, size(loc), size(sticky), #peers
      out[#out + 1] = spack(ANSWER_COUNTS, unpack(head))
      out[#out + 1] = times; out[#out + 1] = hourly
      if loc then out[#out + 1] = loc end
      if sticky then out[#out + 1] = sticky end
      out[#out + 1] = peers
      r.times = spack('<d', now) .. ssub(times, 1, 8 * (TIMES_MAX - 1))
      r.loc = a[p + NKINDS + 1]
      if now > r.last then r.last = now end
      touch(r, now + RECENT_TTL)
      p = p + NKINDS + 2
    elseif code == 'T' then
      -- the records, oldest first: answered, then this one pushed (the oldest dropped past TARGET_MAX)
      local r = take(k, 'T2')
      local d, n = r[5], r[6]
      out[#out + 1] = spack('<I4', #d); out[#out + 1] = d
      if n >= TARGET_MAX then d = ssub(d, (find(d, SEP, 2, true))) else n = n + 1 end
      r[5], r[6] = d .. a[p + 1] .. SEP, n
      r[2] = now + TARGET_TTL
      p = p + 2
    elseif code == 'C' then
      -- a crowd: the members seen within CROWD_WINDOW (least recent first), then see this one
      local r = take(k, 'C2')
      local d, T, L = r[5], r[6], r[7]
      local n = #T / 8
      local c = count(T, CROWD_WINDOW)
      if c >= CROWD_CAP then
        out[#out + 1] = spack('<i4', -1)  -- full: no members
      else
        local s, part = #d, d  -- s: the SEP before the first of the last c (all of them: the whole list)
        if c < n then
          for j = n, n - c + 1, -1 do s = s - sunpack('<I4', L, 4 * j - 3) - 1 end
          part = ssub(d, s)
        end
        out[#out + 1] = spack('<i4', #part); out[#out + 1] = part
      end
      local member, t = a[p + 1], newest(T, now)
      local at = find(d, SEP .. member .. SEP, 1, true)  -- a token holds no SEP: a whole token
      local length = #member
      if at then
        local i, s = 1, 1  -- the entry whose SEP before it is at
        while s < at and i <= n do s = s + sunpack('<I4', L, 4 * i - 3) + 1; i = i + 1 end
        if i < n then
          d = ssub(d, 1, at) .. ssub(d, at + length + 2) .. member .. SEP
          L = ssub(L, 1, 4 * i - 4) .. ssub(L, 4 * i + 1) .. spack('<I4', length)
        end
        T = ssub(T, 1, 8 * i - 8) .. ssub(T, 8 * i + 1) .. spack('<d', t)
      else
        if n >= CROWD_CAP then
          d, T, L = ssub(d, sunpack('<I4', L) + 2), ssub(T, 9), ssub(L, 5)
        end
        d, T, L = d .. member .. SEP, T .. spack('<d', t), L .. spack('<I4', length)
      end
      r[5], r[6], r[7] = d, T, L
      touch(r, now + CROWD_WINDOW)
      p = p + 2
    elseif code == 'B' then
      local r = take(k, 'S4')
      if not r[5] then r[5] = a[p + 1] end
      touch(r, now + SESSION_TTL)
      p = p + 2
    elseif code == 'M' then
      local r = take(k, 'A5')
      see_sets(r, p, tonumber(a[p + 2]), false)
      touch(r, now + RECENT_TTL)
      p = p + 3
    elseif code == 'P' then
      local r = take(k, 'A5')
      r.peers = a[p + 1]
      touch(r, now + RECENT_TTL)
      p = p + 2
    elseif code == 'K' then
      local r = take(k, a[p + 1])
      local until_ = tonumber(a[p + 3])
      r[3] = a[p + 2]; r[4] = until_
      touch(r, until_)
      r.built, r.stored = false, false
      p = p + 4
    else
      return redis.error_reply('unknown op code ' .. tostring(code))
    end
  end

  for _, k in ipairs(order) do
    local r = recs[k]
    if r[2] > now then
      if r.stored then  -- edited in place: Redis's own expiry is extended only where it falls short
        if r.pexpire then call('PEXPIRE', k, px(r.px)) end
      else
        local v = serialize(r)  -- (it sets a shared record's px)
        call('SET', k, v, 'PX', px(r.px or r[2]))
      end
    else
      call('DEL', k)
    end
  end

  return concat(out)
end

@TAIL@
