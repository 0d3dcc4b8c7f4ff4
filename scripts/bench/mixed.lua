-- wrk script: a mixed workload against `quasar serve http` (the demo application): several
-- routes, a path parameter, a JSON POST and varied headers, cycled in this order; each
-- request call sends DEPTH of them at once (1: no pipelining). Every answer is a 2xx, so
-- wrk's "Non-2xx" count stays the error count.
-- Usage: wrk ... -s mixed.lua -- [DEPTH]
local list = {
   { "GET", "/plaintext", { ["User-Agent"] = "curl/8.5.0", ["Accept"] = "*/*" } },
   { "GET", "/json", { ["Accept"] = "application/json", ["Accept-Encoding"] = "gzip, br" } },
   { "GET", "/app/json/42", {
      ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101",
      ["Accept-Language"] = "en-US,en;q=0.5",
      ["Cookie"] = "session=abc123; theme=dark" } },
   { "POST", "/echo", { ["Content-Type"] = "application/json", ["X-Request-Id"] = "7f9c2ba4-e88f-11e9" },
      '{"user":"alice","items":[1,2,3],"note":"hello"}' },
   { "GET", "/plain/json/7", { ["Accept"] = "application/json", ["Cache-Control"] = "no-cache" } },
   { "GET", "/get?page=2&sort=name", { ["Referer"] = "http://127.0.0.1/list", ["X-Forwarded-For"] = "127.0.0.1" } },
}

init = function(args)
   depth = tonumber(args[1]) or 1
   reqs = {}
   for i, r in ipairs(list) do
      reqs[i] = wrk.format(r[1], r[2], r[3], r[4])
   end
   n = 0
end

request = function()
   local out = {}
   for i = 1, depth do
      n = n % #reqs + 1
      out[i] = reqs[n]
   end
   return table.concat(out)
end
