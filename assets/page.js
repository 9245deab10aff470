// Script of token2go's pages (body data-page="index" or "paste"). A file of its own because the
// pages' Content-Security-Policy forbids inline script. Hand-written, no framework. Everything
// the server sends is written with textContent or value, never parsed as HTML. Nothing here
// sends the token anywhere: the JWT claims are decoded in the page and never verified.
//
// Small functions by concern; tests/it/script_functions.rs checks that none exceeds 80 lines.
// The token page's functions take `ui`, made once by initIndex: its elements (`el`), its copy
// forms, the token shown (`current`) and the auto-delete timer.
"use strict";

// A block, not a wrapping function, keeps these names out of the global scope: in strict code a
// function declared in a block belongs to the block.
{
  const byId = (id) => document.getElementById(id);

  // Shared helpers -------------------------------------------------------------------------

  // The fallback copy: execCommand("copy") with a copy event that supplies the text. It needs
  // the click's user activation; nothing is selected.
  function copyByCommand(text) {
    let supplied = false;
    const supply = (event) => {
      event.clipboardData.setData("text/plain", text);
      event.preventDefault();
      supplied = true;
    };
    document.addEventListener("copy", supply);
    let done = false;
    try {
      done = document.execCommand("copy");
    } catch (_) {
      done = false;
    }
    document.removeEventListener("copy", supply);
    return done && supplied;
  }

  // Copies text. The asynchronous clipboard API needs a secure context (plain http on a
  // non-loopback host is not one); elsewhere, or when it refuses, copyByCommand.
  function copyText(text) {
    const legacy = () => copyByCommand(text);
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(() => true, legacy);
    }
    return Promise.resolve(legacy());
  }

  function say(message, kind) {
    const status = byId("status");
    status.textContent = message;
    status.classList.toggle("ok", kind === "ok");
    status.classList.toggle("warn", kind === "warn");
  }

  // localStorage can be missing or throw (storage disabled): preferences then last one visit.
  const store = {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch (_) {
        return null;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch (_) {
        // Not saved; the switch still works for this visit.
      }
    },
  };

  // "in 42 minutes", "3 hours ago": coarse on purpose, the exact time is shown beside it.
  function relative(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size || unit === "second") {
        const value = Math.round(seconds / size);
        if (typeof Intl !== "undefined" && Intl.RelativeTimeFormat) {
          return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(value, unit);
        }
        return value >= 0 ? `in ${value} ${unit}(s)` : `${-value} ${unit}(s) ago`;
      }
    }
    return "";
  }

  // What is left until expiry, for the countdown: "35 s", "42 min", "2 h 5 min", "3 d 4 h".
  function remaining(ms) {
    const s = Math.ceil(ms / 1000);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
    const d = Math.floor(h / 24);
    return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
  }

  // The claims of a JWS compact token (header.payload.signature), decoded only. Returns
  // { claims }, { note } for a token whose claims cannot be read, or null for no JWT.
  function decodeJwt(secret) {
    const parts = secret.split(".");
    if (parts.length === 5) {
      return { note: "This token is an encrypted JWT (JWE): only its audience can read its claims." };
    }
    if (parts.length !== 3 || !/^[A-Za-z0-9_-]+=*$/.test(parts[1])) return null;
    try {
      let b64 = parts[1].replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) b64 += "=";
      const binary = window.atob(b64);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
      const claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      if (claims && typeof claims === "object" && !Array.isArray(claims)) return { claims };
    } catch (_) {
      // Not base64url or not JSON: not a JWT we can read.
    }
    return null;
  }

  // Single-quotes a word for POSIX shells unless it is made of characters that need none.
  function shellQuote(word) {
    return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
  }

  // The token as the forms show it: its start and end, so the lines stay readable.
  function shorten(token) {
    return token.length > 28 ? `${token.slice(0, 16)}\u2026${token.slice(-8)}` : token;
  }

  // Copy forms ------------------------------------------------------------------------------

  // The forms people paste: where each is shown, its copy button, the whole line it copies,
  // what it shows (text and classed spans), the message after copying; `always` when it
  // needs no token. exampleUrl: the operator's URL for the curl line, or the server's
  // placeholder (src/server/page/). serverUrl: this server as the client reaches it.
  function copyForms(exampleUrl, serverUrl) {
    const clientCommand = `token2go ${shellQuote(serverUrl)}`;
    return [
      {
        box: byId("form-header"),
        button: byId("copy-header"),
        line: (t) => `Authorization: Bearer ${t}`,
        show: (t) => ["Authorization: Bearer ", [shorten(t), "tok"]],
        copied: "Header line copied to the clipboard.",
      },
      {
        box: byId("form-curl"),
        button: byId("copy-curl"),
        // The configuration allows no quote in the URL: single quotes always suffice.
        line: (t) => `curl -H ${shellQuote(`Authorization: Bearer ${t}`)} '${exampleUrl}'`,
        show: (t) => ["curl -H 'Authorization: Bearer ", [shorten(t), "tok"], "' '", [exampleUrl, "url"], "'"],
        copied: "curl command copied to the clipboard.",
      },
      {
        box: byId("form-client"),
        button: byId("copy-client"),
        line: () => clientCommand,
        show: () => ["token2go ", [shellQuote(serverUrl), "url"]],
        copied: "Client command copied to the clipboard.",
        always: true,
      },
    ];
  }

  // Writes pieces into box: a string as text, [text, class] as a span of that class.
  function render(box, pieces) {
    box.textContent = "";
    for (const piece of pieces) {
      if (typeof piece === "string") {
        box.append(piece);
      } else {
        const span = document.createElement("span");
        span.className = piece[1];
        span.textContent = piece[0];
        box.append(span);
      }
    }
  }

  // Without a token the forms keep the room a shortened token takes (see shorten).
  const WAITING = "\u00b7".repeat(25);

  function showForms(ui) {
    const current = ui.current;
    for (const form of ui.forms) {
      const usable = form.always || current !== null;
      render(form.box, form.show(current ? current.secret : WAITING));
      form.box.querySelectorAll(".tok").forEach((e) => e.classList.toggle("wait", !current));
      form.button.disabled = !usable;
    }
  }

  // Copies text for a button, says so, and shows "Copied" on the button for a moment.
  function copyAndSay(text, button, done) {
    const failed = () => say("Copying failed: select the text and copy it by hand.", "warn");
    copyText(text).then((ok) => {
      if (!ok) {
        failed();
        return;
      }
      say(done, "ok");
      button.classList.add("copied");
      button.textContent = "Copied";
      window.setTimeout(() => {
        button.textContent = "Copy";
        button.classList.remove("copied");
      }, 1500);
    }, failed);
  }

  function wireCopyButtons(ui) {
    ui.el.copy.addEventListener("click", () => {
      if (ui.current) copyAndSay(ui.current.secret, ui.el.copy, "Token copied to the clipboard.");
    });
    for (const form of ui.forms) {
      form.button.addEventListener("click", () => {
        if (form.always || ui.current) {
          copyAndSay(form.line(ui.current ? ui.current.secret : ""), form.button, form.copied);
        }
      });
    }
  }

  // Claims ----------------------------------------------------------------------------------
  const CLAIM_ROWS = ["sub", "aud", "iss", "scope", "roles", "iat", "exp"];
  const DASH = "\u2014";
  const DECODED_NOTE = "Decoded in this page from the token itself: nothing is verified and nothing is sent anywhere.";

  function list(value) {
    if (Array.isArray(value)) return value.map(String);
    if (typeof value === "string") return value.split(/\s+/).filter(Boolean);
    return [];
  }

  function hasClaim(claims, key) {
    return Object.prototype.hasOwnProperty.call(claims, key);
  }

  // The items as a list of chips in cell, or a dash for none.
  function chipsOrDash(cell, items) {
    if (!items.length) {
      cell.textContent = DASH;
      return;
    }
    const ul = document.createElement("ul");
    ul.className = "chips";
    for (const item of items) {
      const li = document.createElement("li");
      li.textContent = item;
      ul.append(li);
    }
    cell.append(ul);
  }

  function when(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return String(seconds);
    const date = new Date(seconds * 1000);
    return isNaN(date) ? String(seconds) : `${date.toLocaleString()} (${relative(date)})`;
  }

  // The subject, with a readable name beside it when the token has one that differs.
  function subject(claims) {
    const who = ["preferred_username", "email", "upn", "name"].find(
      (key) => typeof claims[key] === "string" && claims[key] !== claims.sub);
    const sub = hasClaim(claims, "sub") ? String(claims.sub) : DASH;
    return who ? `${sub} (${claims[who]})` : sub;
  }

  // Keycloak puts realm roles in realm_access.roles, others in roles: both are shown.
  function roles(claims) {
    const realm = claims.realm_access && typeof claims.realm_access === "object"
      ? list(claims.realm_access.roles) : [];
    return list(claims.roles).concat(realm);
  }

  // Fills the row of claim `name` (one of CLAIM_ROWS) from claims.
  function showClaim(cell, name, claims) {
    cell.textContent = "";
    if (name === "sub") {
      cell.textContent = subject(claims);
    } else if (name === "aud" || name === "iss") {
      cell.textContent = hasClaim(claims, name) ? list(claims[name]).join(", ") || DASH : DASH;
    } else if (name === "scope") {
      chipsOrDash(cell, list(claims.scope).concat(list(claims.scp)));
    } else if (name === "roles") {
      chipsOrDash(cell, roles(claims));
    } else {
      cell.textContent = hasClaim(claims, name) ? when(claims[name]) : DASH;
    }
  }

  // What the note above the claims says for this token (secret null: no token).
  function claimsNote(secret, decoded) {
    if (decoded && decoded.claims) return DECODED_NOTE;
    if (decoded && decoded.note) return decoded.note;
    if (secret !== null) return "This token is not a JWT: it carries no claims that a page can read.";
    return DECODED_NOTE;
  }

  // Decodes and shows the claims of secret (null: no token), and keeps them in ui.current.
  function showClaims(ui, secret) {
    const decoded = secret === null ? null : decodeJwt(secret);
    const claims = decoded && decoded.claims ? decoded.claims : null;
    if (ui.current) ui.current.claims = claims;
    for (const name of CLAIM_ROWS) {
      const cell = byId(`claim-${name}`);
      if (claims) showClaim(cell, name, claims);
      else cell.textContent = DASH;
    }
    byId("claims-note").textContent = claimsNote(secret, decoded);
    byId("claims-json").textContent = claims ? JSON.stringify(claims, null, 2) : DASH;
  }

  // Keeps "(18 minutes ago)" and "(in 42 minutes)" of the claims current.
  function showClaimTimes(ui) {
    const claims = ui.current && ui.current.claims;
    if (!claims) return;
    for (const name of ["iat", "exp"]) {
      if (hasClaim(claims, name)) byId(`claim-${name}`).textContent = when(claims[name]);
    }
  }

  // Expiry ----------------------------------------------------------------------------------
  function showExpiry(ui) {
    const { expires, countdown, reloadExpired } = ui.el;
    const expiresAt = ui.current && ui.current.expiresAt;
    if (!expiresAt) {
      expires.textContent = ui.current ? "not stated by the token" : "\u2026";
      expires.classList.remove("expired");
      countdown.hidden = true;
      reloadExpired.hidden = true;
      return;
    }
    const left = expiresAt.getTime() - Date.now();
    const past = left <= 0;
    expires.textContent = `${expiresAt.toLocaleString()} (${past ? "expired " : ""}${relative(expiresAt)})`;
    expires.classList.toggle("expired", past);
    countdown.textContent = past ? "expired" : `expires in ${remaining(left)}`;
    countdown.classList.toggle("expired", past);
    countdown.classList.toggle("soon", !past && left < 5 * 60 * 1000);
    countdown.hidden = false;
    reloadExpired.hidden = !past;
  }

  // The countdown every second, the claims' relative times every 30 s.
  function startClocks(ui) {
    window.setInterval(() => {
      if (ui.current && ui.current.expiresAt) showExpiry(ui);
    }, 1000);
    window.setInterval(() => showClaimTimes(ui), 30000);
  }

  // Auto-copy and auto-delete ---------------------------------------------------------------
  const IDLE = "Both switches are saved in this browser only.";

  function stopAutoDelete(ui) {
    if (ui.deleteTimer !== null) window.clearInterval(ui.deleteTimer);
    ui.deleteTimer = null;
    ui.el.pending.textContent = IDLE;
    ui.el.pending.classList.remove("counting");
    ui.el.cancelDelete.hidden = true;
  }

  function startAutoDelete(ui) {
    stopAutoDelete(ui);
    const seconds = Number(ui.el.delay.value);
    const at = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((at - Date.now()) / 1000);
      if (left > 0) {
        ui.el.pending.textContent = `Deleting the token from this page in ${left} s.`;
        return;
      }
      stopAutoDelete(ui);
      clearToken(ui);
      say(`Token deleted from this page after ${seconds} s. Reload fetches it again.`);
    };
    tick();
    ui.el.pending.classList.add("counting");
    ui.el.cancelDelete.hidden = false;
    ui.deleteTimer = window.setInterval(tick, 250);
  }

  // Auto-copy has no click behind it: the browser may refuse (no focus, no permission).
  // Then the page asks for the click instead; nothing is thrown.
  function copyOnLoad(ui, text) {
    const attempt = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text).then(() => true, () => false)
      : Promise.resolve(false);
    attempt.then((ok) => {
      if (!ui.current || ui.current.secret !== text) return;
      if (ok) say("Token loaded and copied to the clipboard.", "ok");
      else say("Token loaded. Click Copy to copy.", "warn");
    });
  }

  // The switches as this browser saved them; an unknown saved delay keeps the page's default.
  function restoreSwitches(ui) {
    const { autoCopy, autoDelete, delay } = ui.el;
    autoCopy.checked = store.get("autoCopy") === "true";
    autoDelete.checked = store.get("autoDelete") === "true";
    const savedDelay = store.get("autoDeleteDelay");
    if (Array.from(delay.options).some((o) => o.value === savedDelay)) delay.value = savedDelay;
  }

  // Each change is saved at once and said; switching auto-delete off also stops a countdown.
  function wireSwitches(ui) {
    const { autoCopy, autoDelete, delay } = ui.el;
    autoCopy.addEventListener("change", () => {
      store.set("autoCopy", String(autoCopy.checked));
      say(autoCopy.checked
        ? "Saved: the token is copied whenever it loads."
        : "Saved: the token is copied only when you click Copy.");
    });
    autoDelete.addEventListener("change", () => {
      store.set("autoDelete", String(autoDelete.checked));
      if (autoDelete.checked) {
        say(`Saved: the token is deleted from the page ${delay.value} s after it loads, from the next load on.`);
      } else {
        stopAutoDelete(ui);
        say("Saved: the token stays on the page until you delete it.");
      }
    });
    delay.addEventListener("change", () => {
      store.set("autoDeleteDelay", delay.value);
      say(`Saved: ${delay.value} s before the token is deleted.`);
    });
  }

  // The token -------------------------------------------------------------------------------

  function clearToken(ui) {
    stopAutoDelete(ui);
    ui.current = null;
    ui.el.secret.value = "";
    ui.el.fingerprint.textContent = "";
    ui.el.timestamp.textContent = "";
    ui.el.tokenBox.hidden = true;
    ui.el.copy.disabled = true;
    ui.el.remove.disabled = true;
    showExpiry(ui);
    showForms(ui);
    showClaims(ui, null);
  }

  // data: the /token answer ({ secret, fingerprint, timestamp, expiresAt? }).
  function showToken(ui, data) {
    hideError();
    showTokenCards(true);
    const exp = typeof data.expiresAt === "string" ? new Date(data.expiresAt) : null;
    ui.current = { secret: data.secret, expiresAt: exp && !isNaN(exp) ? exp : null };
    ui.el.secret.value = data.secret;
    ui.el.fingerprint.textContent = typeof data.fingerprint === "string" ? data.fingerprint : "";
    const fetched = new Date(data.timestamp);
    ui.el.timestamp.textContent = isNaN(fetched) ? String(data.timestamp || "") : fetched.toLocaleString();
    showExpiry(ui);
    showForms(ui);
    showClaims(ui, data.secret);
    ui.el.tokenBox.hidden = false;
    ui.el.copy.disabled = false;
    ui.el.remove.disabled = false;
    if (ui.current.expiresAt && ui.current.expiresAt.getTime() <= Date.now()) {
      say("Token loaded, but it has expired.", "warn");
    } else {
      say("Token loaded.", "ok");
    }
    if (ui.el.autoDelete.checked) startAutoDelete(ui);
    else stopAutoDelete(ui);
    if (ui.el.autoCopy.checked) copyOnLoad(ui, data.secret);
  }

  // Without a token to use, the cards about using it are noise: hidden while the server
  // says there is none, back with the next token.
  function showTokenCards(visible) {
    byId("use").hidden = !visible;
    byId("claims-card").hidden = !visible;
  }

  function wireTokenButtons(ui) {
    const el = ui.el;
    el.reload.addEventListener("click", () => load(ui));
    el.reloadExpired.addEventListener("click", () => load(ui));
    el.remove.addEventListener("click", () => {
      clearToken(ui);
      say("Token removed from this page. Reload fetches it again.");
    });
    el.cancelDelete.addEventListener("click", () => {
      stopAutoDelete(ui);
      say("Automatic deletion cancelled for this token.");
      el.copy.focus();
    });
  }

  // Errors ----------------------------------------------------------------------------------
  function hideError() {
    byId("error").hidden = true;
  }

  // title: what happened; help: what to do; reason: the server's own words (444 and other
  // errors); headers: the names a 444 lists.
  function showError(title, help, reason, headers) {
    byId("error-title").textContent = title;
    byId("error-help").textContent = help || "";
    byId("error-help").hidden = !help;
    const list = byId("error-headers");
    list.textContent = "";
    for (const name of headers || []) {
      const li = document.createElement("li");
      li.textContent = name;
      list.append(li);
    }
    list.hidden = !headers || headers.length === 0;
    byId("echo-hint").hidden = !(headers && document.body.dataset.echo === "true");
    byId("error-text").textContent = reason || "";
    byId("error-text").parentElement.hidden = !reason;
    byId("error").hidden = false;
  }

  // A failed reload: until a new token arrives, the old one stays on screen.
  function keepOld(ui, title, help) {
    showError(title, help);
    if (ui.current) say(`Still showing the token fetched at ${ui.el.timestamp.textContent}.`, "warn");
    else say("");
  }

  // The 444 body is "Token not found. Looking for: A, B, C".
  function headerNames(text) {
    const marker = "Looking for:";
    const at = text.indexOf(marker);
    if (at < 0) return [];
    return text.slice(at + marker.length).split(",").map((n) => n.trim()).filter(Boolean);
  }

  // An error status: the token goes, the error and the server's words (first 500 characters)
  // come. 444 is the server's "no token in the request".
  async function showRefusal(ui, response) {
    const text = (await response.text()).trim().slice(0, 500);
    clearToken(ui);
    showTokenCards(false);
    if (response.status === 444) {
      const names = headerNames(text);
      showError(
        "No token available.",
        names.length
          ? "The gateway in front of this service passed no token. The service looked in these request headers, in this order:"
          : "The gateway in front of this service passed no token.",
        text,
        names,
      );
    } else {
      showError(`The service answered with an error (HTTP ${response.status}).`, "", text);
    }
    say("");
  }

  // Loading ---------------------------------------------------------------------------------

  // Relative URL: works at / and behind a gateway's path prefix alike. A redirect is not
  // followed: behind a gateway it means "sign in again", not "here is the token".
  function fetchToken() {
    return fetch("token", {
      cache: "no-store",
      credentials: "same-origin",
      redirect: "manual",
      headers: { Accept: "application/json" },
    });
  }

  // A 2xx answer: the token, or something in the service's place (a sign-in page).
  async function takeToken(ui, response) {
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (data && typeof data.secret === "string") {
      showToken(ui, data);
    } else {
      keepOld(
        ui,
        "The answer was not a token.",
        "Something between you and the service answered in its place, perhaps a sign-in page. Reload this whole page (F5).",
      );
    }
  }

  async function takeAnswer(ui, response) {
    if (response.type === "opaqueredirect") {
      keepOld(
        ui,
        "The gateway wants you to sign in again.",
        "It answered with a redirect instead of the token. Reload this whole page (F5) to sign in.",
      );
    } else if (response.ok) {
      await takeToken(ui, response);
    } else {
      await showRefusal(ui, response);
    }
  }

  function enableReload(ui, enabled) {
    ui.el.reload.disabled = !enabled;
    ui.el.reloadExpired.disabled = !enabled;
  }

  async function load(ui) {
    enableReload(ui, false);
    say(ui.current ? "Reloading the token\u2026" : "Loading the token\u2026");
    let response;
    try {
      response = await fetchToken();
    } catch (_) {
      keepOld(
        ui,
        "Could not reach the service.",
        "The network failed or the service is down. Check the connection, then Reload.",
      );
      enableReload(ui, true);
      return;
    }
    try {
      await takeAnswer(ui, response);
    } catch (_) {
      keepOld(ui, "The answer could not be read.", "Try Reload.");
    } finally {
      enableReload(ui, true);
    }
  }

  // Pages -----------------------------------------------------------------------------------

  // The elements the token page's functions use again and again.
  function indexElements() {
    return {
      secret: byId("secret"),
      fingerprint: byId("fingerprint"),
      expires: byId("expires"),
      timestamp: byId("timestamp"),
      tokenBox: byId("token"),
      copy: byId("copy"),
      reload: byId("reload"),
      remove: byId("delete"),
      countdown: byId("countdown"),
      reloadExpired: byId("reload-expired"),
      autoCopy: byId("auto-copy"),
      autoDelete: byId("auto-delete"),
      delay: byId("auto-delete-delay"),
      pending: byId("auto-delete-status"),
      cancelDelete: byId("cancel-delete"),
    };
  }

  function initIndex() {
    // This server as the client reaches it: the folder of this page, so a gateway's path
    // prefix is kept; query and fragment are dropped.
    const serverUrl = new URL(".", document.baseURI).href;
    const ui = {
      el: indexElements(),
      forms: copyForms(document.body.dataset.exampleUrl, serverUrl),
      current: null, // the token shown: { secret, expiresAt, claims }
      deleteTimer: null,
    };
    wireCopyButtons(ui);
    wireTokenButtons(ui);
    restoreSwitches(ui);
    wireSwitches(ui);
    startClocks(ui);
    showForms(ui);
    load(ui);
  }

  function initPaste() {
    const block = byId("block");
    byId("copy").addEventListener("click", () => {
      copyText(block.value).then((ok) =>
        say(ok ? "Copied. Paste it into your program." : "Copying failed: select the block and copy it by hand.", ok ? "ok" : "warn"));
    });
  }

  const page = document.body.dataset.page;
  if (page === "index") initIndex();
  if (page === "paste") initPaste();
}
