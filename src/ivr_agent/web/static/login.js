// ivr-agent sign-in: a token given as /login#token=… (never sent to the server in the URL)
// is posted by the form and removed from the address bar and history.
//
// Defence in depth against an open redirect: the server only puts a path of this site into
// the form's "next" (web/redirects.py), and this script checks it once more before anything
// is submitted — a "next" that is not a plain path on this origin becomes "/".
"use strict";
(function () {
  // One "/", then printable ASCII without "\", no "//", no "." or ".." segment.
  const PLAIN = /^(?!.*\/\/)(?!.*\/\.{1,2}(?:[/?#]|$))\/[\x21-\x5b\x5d-\x7e]*$/;

  function sameOriginPath(next) {
    if (typeof next !== "string" || !PLAIN.test(next)) { return "/"; }
    let decoded;
    try { decoded = decodeURIComponent(next); } catch (e) { return "/"; }
    if (decoded !== next && !PLAIN.test(decoded)) { return "/"; }
    let url;
    try { url = new URL(next, location.origin); } catch (e) { return "/"; }
    if (url.origin !== location.origin) { return "/"; }
    return next;
  }

  const form = document.getElementById("login-form");
  const next = form.elements.namedItem("next");
  if (next) { next.value = sameOriginPath(next.value); }

  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) { return; }
  history.replaceState(null, "", location.pathname + location.search);
  document.getElementById("token").value = decodeURIComponent(match[1]);
  form.submit();
})();
