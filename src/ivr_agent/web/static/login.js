// ivr-agent sign-in: a token given as /login#token=… (never sent to the server in the URL)
// is posted by the form and removed from the address bar and history.
"use strict";
(function () {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) { return; }
  history.replaceState(null, "", location.pathname + location.search);
  document.getElementById("token").value = decodeURIComponent(match[1]);
  document.getElementById("login-form").submit();
})();
