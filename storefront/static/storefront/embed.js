/*! Advocacy embed script: keeps a referral (?ref=&click=) in a first-party cookie and
 * fills <input name="referral_code"> / <input name="referral_click"> in the page's forms.
 * <script src="https://PLATFORM/embed.js" data-key="pk_..." async></script>
 * Optional: data-cookie-domain="example.com", data-days="30", data-api="https://PLATFORM".
 * Advocacy.postPurchase({token}) and Advocacy.lookup({target}) load their part on demand. */
(function () {
  "use strict";
  if (window.Advocacy && window.Advocacy.referral) return; // loaded twice: keep the first

  var COOKIE = "advocacy_ref";
  var CODE = /^[A-Za-z0-9_-]{1,32}$/;
  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  var script = document.currentScript || document.querySelector("script[data-key][src*='embed.js']");
  var opts = (script && script.dataset) || {};
  var days = parseInt(opts.days, 10) > 0 ? parseInt(opts.days, 10) : 30;
  var api = (opts.api || (script && script.src ? new URL(script.src, location.href).origin : ""))
    .replace(/\/+$/, "");
  var remembered = null; // when cookies are blocked, the referral still lasts for this page

  function parse(value) {
    var dot = value.indexOf(".");
    var code = dot < 0 ? value : value.slice(0, dot);
    var click = dot < 0 ? "" : value.slice(dot + 1);
    if (!CODE.test(code)) return null;
    return { code: code, click: UUID.test(click) ? click : null };
  }

  function fromCookie() {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i].replace(/^\s+/, "");
      if (part.indexOf(COOKIE + "=") === 0) {
        var found = parse(decodeURIComponent(part.slice(COOKIE.length + 1)));
        if (found) return found;
      }
    }
    return null;
  }

  function store(ref) {
    var cookie = COOKIE + "=" + ref.code + (ref.click ? "." + ref.click : "") +
      "; path=/; max-age=" + days * 86400 + "; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
    remembered = ref;
    if (opts.cookieDomain) {
      // An older host-only cookie would shadow the shared one: drop it.
      document.cookie = COOKIE + "=; path=/; max-age=0";
      document.cookie = cookie + "; domain=" + opts.cookieDomain;
      if (fromCookie()) return;
      // The browser refused the domain (not a parent of this host): keep it host-only.
    }
    document.cookie = cookie;
  }

  function referral() {
    var ref = fromCookie() || remembered;
    return ref ? { code: ref.code, click: ref.click } : null;
  }

  function fill(root, ref) {
    if (!ref || !root.querySelectorAll) return;
    var values = { referral_code: ref.code, referral_click: ref.click || "" };
    var inputs = [root].concat([].slice.call(root.querySelectorAll("input[name^='referral_']")));
    inputs.forEach(function (input) {
      if (input.tagName !== "INPUT" || !(input.name in values)) return;
      // Never overwrite what the customer typed; do refresh what this script filled.
      if (input.value && input.getAttribute("data-advocacy") !== "filled") return;
      input.value = values[input.name];
      input.setAttribute("data-advocacy", "filled");
    });
  }

  function signup(friend) {
    var ref = referral();
    if (!ref) return Promise.reject(new Error("Advocacy: this visitor has no referral"));
    if (!opts.key) return Promise.reject(new Error("Advocacy: the script tag has no data-key"));
    var body = { referral_code: ref.code, friend: {} };
    if (ref.click) body.click_id = ref.click;
    ["email", "name", "external_id"].forEach(function (field) {
      if (friend && friend[field]) body.friend[field] = friend[field];
    });
    return fetch(api + "/api/v1/referrals", {
      method: "POST",
      credentials: "omit",
      headers: { Authorization: "Bearer " + opts.key, "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) {
        if (response.ok) return json;
        var error = new Error((json.error && json.error.message) || "HTTP " + response.status);
        error.status = response.status;
        error.error = json.error;
        throw error;
      });
    });
  }

  var params = new URLSearchParams(location.search);
  var ref = params.get("ref");
  if (ref && CODE.test(ref)) {
    var click = params.get("click");
    var stored = fromCookie();
    // A newer referral replaces the stored one; the same code without a click keeps its click.
    if (!UUID.test(click || "")) click = stored && stored.code === ref ? stored.click : null;
    store({ code: ref, click: click });
  }

  function fillPage() {
    fill(document, referral());
  }

  var ui = null; // the prompt and the lookup: fetched only when a page asks for them
  function later(name) {
    return function (options) {
      ui = ui || new Promise(function (resolve, reject) {
        var tag = document.createElement("script");
        tag.src = api + "__ADVOCACY_UI__";
        tag.onload = function () { resolve(window.Advocacy._ui); };
        tag.onerror = function () { ui = null; reject(new Error("Advocacy: " + tag.src)); };
        document.head.appendChild(tag);
      });
      return ui.then(function (m) { return m[name](options || {}); });
    };
  }

  window.Advocacy = {
    referral: referral, signup: signup, fill: fillPage, _api: api, _key: opts.key,
    postPurchase: later("postPurchase"), lookup: later("lookup")
  };

  if (referral()) {
    fillPage();
    if (window.MutationObserver) {
      // Also sees what the parser adds after an early async load, and forms added later.
      new MutationObserver(function (mutations) {
        var current = referral();
        mutations.forEach(function (mutation) {
          [].forEach.call(mutation.addedNodes, function (node) {
            if (node.nodeType === 1) fill(node, current);
          });
        });
      }).observe(document.documentElement, { childList: true, subtree: true });
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fillPage);
  }
  document.dispatchEvent(new CustomEvent("advocacy:ready"));
})();
