/* Gatehouse BFF client: no framework, no dependencies.
 *
 *   <script src="/bff/client.js"></script>
 *   const s = await gatehouse.session();        // {authenticated: true, user, expiresAt} or {authenticated: false}
 *   gatehouse.login("/where/to/land");         // full-page navigation to the provider
 *   await gatehouse.logout("/after/logout");   // ends the session here and at the provider
 *   const r = await gatehouse.fetch("/api/orders");
 *
 * In `bff` mode the browser never sees a token: fetch() sends the HttpOnly session cookie and
 * nginx swaps it for the access token. In `tokenExchange` mode session() also answers a
 * short-lived access token, kept in this closure only (never in storage), and fetch() sends it
 * as `Authorization: Bearer`, asking for a new one shortly before it expires.
 */
(function (global) {
  "use strict";
  var base = "@PREFIX@";             // filled in by Gatehouse when it serves this file
  var MODE = "@MODE@";
  var CSRF_HEADER = "@CSRF_HEADER@";
  var token = null;     // tokenExchange: {value, expiresAt (ms)}
  var pending = null;   // one session() request in flight at a time

  function here() {
    return location.pathname + location.search + location.hash;
  }

  function session() {
    if (pending) return pending;
    pending = global.fetch(base + "/bff/session", {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (res) {
        return res.json().then(function (body) {
          if (res.status === 200 && body.accessToken) {
            token = {value: body.accessToken, expiresAt: Date.now() + 1000 * (body.expiresIn || 0)};
            delete body.accessToken;
          } else if (res.status !== 200) {
            token = null;
          }
          return body;
        }, function () { return {authenticated: false, status: res.status}; });
      })
      .finally(function () { pending = null; });
    return pending;
  }

  function login(redirect) {
    location.assign(base + "/bff/login?redirect=" + encodeURIComponent(redirect || here()));
  }

  function logout(redirect) {
    token = null;
    var body = redirect ? JSON.stringify({redirect: redirect}) : "{}";
    var headers = {"Content-Type": "application/json", "Accept": "application/json"};
    headers[CSRF_HEADER] = "1";
    return global.fetch(base + "/bff/logout", {method: "POST", credentials: "same-origin", headers: headers, body: body})
      .then(function (res) { return res.json(); })
      .then(function (body) { location.assign(body.location || redirect || "/"); return body; });
  }

  function bearer() {
    if (token && token.expiresAt - Date.now() > 5000) return Promise.resolve(token.value);
    return session().then(function () { return token ? token.value : null; });
  }

  function apiFetch(input, init) {
    init = Object.assign({credentials: "same-origin"}, init || {});
    var headers = new Headers(init.headers || {});
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    init.headers = headers;
    var method = (init.method || "GET").toUpperCase();
    // state-changing calls carry the CSRF header, as /auth requires for the session cookie
    if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") headers.set(CSRF_HEADER, "1");
    var ready = Promise.resolve(null);
    // Only tokenExchange answers carry a token; in bff mode nothing is added.
    if (MODE === "tokenExchange") ready = bearer();
    return ready.then(function (value) {
      if (value) headers.set("Authorization", "Bearer " + value);
      return global.fetch(input, init);
    });
  }

  global.gatehouse = {session: session, login: login, logout: logout, fetch: apiFetch, mode: MODE};
})(window);
