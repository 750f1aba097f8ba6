-- wrk script for Gatehouse's benchmark: cycles through a file of requests and checks every
-- answer. Each line of the file: METHOD <TAB> PATH <TAB> CHECK <TAB> HEADER: VALUE
-- [<TAB> HEADER: VALUE ...] [<TAB> BODY=...]. CHECK is `user` (the path's query carries
-- u=<expected user id>; the upstream behind nginx echoes the identity it received as
-- X-Seen-User and the expected one as X-Seen-Expect, and they must be equal), `token` (the body
-- must hold an access_token) or `-` (status only). An answer counts as bad unless it has the
-- expected status and passes its check: a fast wrong answer is a failure, not a result.
-- Usage: wrk -s bench/check.lua <url> -- <requests file> <expected status> [<threads>]

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, status, nthreads = args[1], tonumber(args[2]), tonumber(args[3] or "1")
  want_status = status
  reqs, users = {}, {}
  bad, seen, wrong_user, wrong_status = 0, 0, 0, 0
  local n = 0
  for line in io.lines(path) do
    -- each thread takes every nthreads-th line: single-use values (assertions) stay single-use
    if n % nthreads == id then
      local fields = {}
      for field in string.gmatch(line, "[^\t]+") do table.insert(fields, field) end
      local method, target, user = fields[1], fields[2], fields[3]
      local headers, body = {}, nil
      for i = 4, #fields do
        local f = fields[i]
        if string.sub(f, 1, 5) == "BODY=" then
          body = string.sub(f, 6)
        else
          local name, value = string.match(f, "^([^:]+):%s*(.*)$")
          headers[name] = value
        end
      end
      table.insert(reqs, wrk.format(method, target, headers, body))
      table.insert(users, user)
    end
    n = n + 1
  end
  check = users[1] or "-"
  index = 0
end

function request()
  index = index % #reqs + 1
  return reqs[index]
end

function response(status, headers, body)
  seen = seen + 1
  if status ~= want_status then
    wrong_status = wrong_status + 1
    bad = bad + 1
  elseif check == "user" and (headers["X-Seen-User"] == nil or headers["X-Seen-User"] == ""
                              or headers["X-Seen-User"] ~= headers["X-Seen-Expect"]) then
    wrong_user = wrong_user + 1
    bad = bad + 1
  elseif check == "token" and not string.find(body, "access_token", 1, true) then
    wrong_user = wrong_user + 1
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad, total_seen, total_user, total_status = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    total_bad = total_bad + t:get("bad")
    total_seen = total_seen + t:get("seen")
    total_user = total_user + t:get("wrong_user")
    total_status = total_status + t:get("wrong_status")
  end
  io.write(string.format("CHECKED %d BAD %d WRONG_STATUS %d WRONG_USER %d\n", total_seen, total_bad,
                         total_status, total_user))
end
