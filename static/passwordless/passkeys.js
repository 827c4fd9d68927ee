// Passkeys (WebAuthn), as progressive enhancement: every page works without it.
// - Forms marked data-passkey="create" or "get" stay hidden unless the browser
//   has WebAuthn; elements marked data-passkey-none say so where it has not.
// - Submitting such a form first POSTs it to its data-options URL (the CSRF
//   token goes along) for the options JSON, asks the browser for the passkey,
//   puts the answer (JSON) in the form's "credential" field, then submits it.
// - The login form (data-conditional) also offers passkeys in the email field's
//   autofill (the script sets autocomplete="username webauthn") where it can.
// - What it says comes from the form's data-message-failed (and, on the create
//   form, data-message-saved): the template writes them in the reader's language.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-passkey]");
  if (!forms.length) return;
  var PKC = window.PublicKeyCredential;
  if (!PKC || !navigator.credentials || !window.fetch) return;

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    if (PKC.parseCreationOptionsFromJSON) return PKC.parseCreationOptionsFromJSON(json);
    json.challenge = toBytes(json.challenge);
    json.user.id = toBytes(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function requestOptions(json) {
    if (PKC.parseRequestOptionsFromJSON) return PKC.parseRequestOptionsFromJSON(json);
    json.challenge = toBytes(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function answer(credential) {
    if (credential.toJSON) return JSON.stringify(credential.toJSON());
    var r = credential.response, out = {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      out.response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify(out);
  }

  function options(form) {
    return fetch(form.getAttribute("data-options"), {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (!response.ok || type.indexOf("application/json") !== 0) {
        // Not signed in strongly enough, or the step ended: the page says what next.
        window.location.reload();
        throw new Error("no options");
      }
      return response.json();
    });
  }

  function showError(form, text) {
    var box = form.querySelector("[data-passkey-error]");
    if (box) { box.textContent = text; box.hidden = false; }
  }

  function send(form, credential) {
    form.querySelector('input[name="credential"]').value = answer(credential);
    form.submit();
  }

  var pending = null;  // the autofill request, aborted when the button is used

  function onSubmit(event) {
    var form = event.currentTarget;
    if (form.querySelector('input[name="credential"]').value) return;
    event.preventDefault();
    if (pending) { pending.abort(); pending = null; }
    var create = form.getAttribute("data-passkey") === "create";
    options(form).then(function (json) {
      return create
        ? navigator.credentials.create({ publicKey: creationOptions(json) })
        : navigator.credentials.get({ publicKey: requestOptions(json) });
    }).then(function (credential) {
      if (credential) send(form, credential);
    }).catch(function (error) {
      if (error && error.message === "no options") return;
      // The words come from the page (data-message-*), in the reader's language.
      showError(form, error && error.name === "InvalidStateError"
        ? form.getAttribute("data-message-saved") || form.getAttribute("data-message-failed")
        : form.getAttribute("data-message-failed"));
    });
  }

  function autofill(form) {
    if (!PKC.isConditionalMediationAvailable || !window.AbortController) return;
    PKC.isConditionalMediationAvailable().then(function (available) {
      if (!available) return;
      // The token lets the browser list passkeys in the field's autofill. Added
      // here, not in the HTML: without this script there is nothing to offer.
      var field = document.querySelector('input[name="email"]');
      if (field) field.setAttribute("autocomplete", "username webauthn");
      return options(form).then(function (json) {
        pending = new AbortController();
        return navigator.credentials.get({
          mediation: "conditional", publicKey: requestOptions(json), signal: pending.signal
        });
      }).then(function (credential) {
        if (credential) send(form, credential);
      });
    }).catch(function () { /* dismissed, aborted, or typed an address instead */ });
  }

  document.querySelectorAll("[data-passkey-none]").forEach(function (note) { note.hidden = true; });
  forms.forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", onSubmit);
    if (form.hasAttribute("data-conditional")) autofill(form);
  });
})();
