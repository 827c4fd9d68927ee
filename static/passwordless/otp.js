// Progressive enhancement for one-time code fields; every page works without it.
// - WebOTP: where the browser supports it, fill the code from the incoming SMS
//   (the SMS ends with "@host #code") and submit.
// - Paste: a pasted full-length code submits the form.
(function () {
  "use strict";
  var input = document.querySelector('input[autocomplete="one-time-code"]');
  if (!input || !input.form) return;
  var form = input.form;
  var length = parseInt(input.getAttribute("data-length") || "6", 10);

  function submitWhenComplete() {
    if (input.value.replace(/[\s-]/g, "").length === length) {
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }
  }

  input.addEventListener("paste", function () { setTimeout(submitWhenComplete, 0); });

  if ("OTPCredential" in window && window.AbortController) {
    var abort = new AbortController();
    form.addEventListener("submit", function () { abort.abort(); });
    navigator.credentials.get({ otp: { transport: ["sms"] }, signal: abort.signal })
      .then(function (otp) {
        if (otp && otp.code) { input.value = otp.code; submitWhenComplete(); }
      })
      .catch(function () { /* no SMS, or the person typed it first */ });
  }
})();
