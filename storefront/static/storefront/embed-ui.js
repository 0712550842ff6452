/*! Advocacy embed UI: the post-purchase share prompt and the "referred by a friend?"
 * lookup. embed.js loads it only when the page calls Advocacy.postPurchase() or
 * Advocacy.lookup(); see docs/integration.md. */
(function () {
  "use strict";
  var A = window.Advocacy;
  if (!A || A._ui) return;

  function call(path, body) {
    return fetch(A._api + path, {
      method: "POST",
      credentials: "omit",
      headers: { Authorization: "Bearer " + A._key, "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (response.ok) return json;
        var error = new Error((json.error && json.error.message) || "HTTP " + response.status);
        error.status = response.status;
        error.error = json.error;
        error.retryAfter = parseInt(response.headers.get("Retry-After"), 10) || null;
        throw error;
      });
    });
  }

  // An impression or a share, signed by the token the prompt came with: a simple
  // request (no preflight), sent even while the page unloads.
  function event(token, kind, channel) {
    if (!token || !window.fetch) return;
    fetch(A._api + "/api/v1/placement-events", {
      method: "POST", mode: "no-cors", keepalive: true, credentials: "omit",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ token: token, kind: kind, channel: channel || "" })
    }).catch(function () {});
  }

  function language(options) {
    return options.language || document.documentElement.lang || navigator.language || "";
  }

  // ------------------------------------------------------------ post-purchase prompt

  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), summary, [tabindex='0']";

  function postPurchase(options) {
    if (!options.token) return Promise.reject(new Error("Advocacy.postPurchase: give {token}"));
    var lang = language(options);
    return call("/api/v1/post-purchase", { token: options.token, language: lang })
      .then(function (answer) {
        if (!answer.show) return { shown: false };
        open(answer, options, lang);
        return { shown: true, referral_url: answer.referral_url, referral_code: answer.referral_code };
      });
  }

  function open(answer, options, lang) {
    var host = document.createElement("div");
    host.setAttribute("data-advocacy-prompt", "");
    var root = host.attachShadow({ mode: "open" });
    document.body.appendChild(host);
    var previous = document.activeElement;
    var overflow = document.documentElement.style.overflow;
    document.documentElement.style.overflow = "hidden";

    function close() {
      document.removeEventListener("keydown", onKey, true);
      host.remove();
      document.documentElement.style.overflow = overflow;
      if (previous && previous.focus) previous.focus();
      if (options.onClose) options.onClose();
    }

    function onKey(e) {
      if (e.key === "Escape") { e.preventDefault(); close(); return; }
      if (e.key !== "Tab") return;
      // Focus stays in the dialog: Tab from the last control goes to the first, and back.
      var items = [].filter.call(root.querySelectorAll(FOCUSABLE), function (el) {
        return el.getClientRects().length > 0;
      });
      if (!items.length) return;
      var i = items.indexOf(root.activeElement);
      if (e.shiftKey && i <= 0) { e.preventDefault(); items[items.length - 1].focus(); }
      else if (!e.shiftKey && (i === -1 || i === items.length - 1)) { e.preventDefault(); items[0].focus(); }
    }
    document.addEventListener("keydown", onKey, true);

    function render(html) {
      // The prompt's <style> becomes a constructed style sheet: a page whose
      // Content-Security-Policy forbids inline styles (this platform's own pages do)
      // still styles the prompt. Parsed in an inert <template>, it is never applied.
      var parsed = document.createElement("template");
      parsed.innerHTML = html;
      var styles = parsed.content.querySelectorAll("style");
      if (styles.length && "adoptedStyleSheets" in root && window.CSSStyleSheet) {
        try {
          var sheet = new CSSStyleSheet();
          sheet.replaceSync([].map.call(styles, function (s) { return s.textContent; }).join("\n"));
          root.adoptedStyleSheets = [sheet];
          [].forEach.call(styles, function (s) { s.remove(); });
        } catch (e) { /* an older browser: the <style> elements stay */ }
      }
      root.replaceChildren(parsed.content);
      var dialog = root.querySelector("[role=dialog]");
      var token = dialog.getAttribute("data-event-token");
      [].forEach.call(root.querySelectorAll("[data-close]"), function (el) {
        el.addEventListener("click", close);
      });
      var form = root.querySelector("form[data-enrol]");
      if (form) form.addEventListener("submit", function (e) {
        e.preventDefault();
        var terms = form.querySelector("[name=accepted_terms]");
        var findable = form.querySelector("[name=findable]");
        var button = form.querySelector("[type=submit]");
        if (terms && !terms.checked) {
          root.querySelector("[data-error]").textContent = form.getAttribute("data-terms-needed");
          terms.focus();
          return;
        }
        button.disabled = true;
        call("/api/v1/post-purchase/enrol", {
          token: options.token, language: lang,
          accepted_terms: terms && terms.checked ? terms.value : "",
          findable: !!(findable && findable.checked)
        }).then(function (joined) {
          render(joined.html);
          if (options.onEnrol) options.onEnrol({ referral_url: joined.referral_url, referral_code: joined.referral_code });
        }, function (error) {
          button.disabled = false;
          root.querySelector("[data-error]").textContent = error.message;
        });
      });
      var copy = root.querySelector("[data-copy]");
      if (copy) copy.addEventListener("click", function () {
        var input = root.querySelector("[data-link]");
        function done() {
          root.querySelector("[data-copied]").textContent = copy.getAttribute("data-done");
          event(token, "share", "copy");
        }
        input.select();
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(done, function () {
            if (document.execCommand("copy")) done();
          });
        } else if (document.execCommand("copy")) done();
      });
      [].forEach.call(root.querySelectorAll("[data-share]"), function (link) {
        link.addEventListener("click", function () { event(token, "share", link.getAttribute("data-share")); });
      });
      var heading = root.querySelector("h2");
      heading.focus();
    }
    render(answer.html);
  }

  // ------------------------------------------------------------ "referred by a friend?"

  var WORDS = {
    en: ["Referred by a friend?", "Type their name", "No match. Check the spelling, or ask your friend for their link.",
         "Referred by %s", "Change", "Too many searches: wait a moment.", "Type at least 3 letters."],
    nb: ["Anbefalt av en venn?", "Skriv navnet deres", "Ingen treff. Sjekk stavemåten, eller be vennen din om lenken.",
         "Anbefalt av %s", "Endre", "For mange søk: vent litt.", "Skriv minst 3 bokstaver."],
    sv: ["Tipsad av en vän?", "Skriv deras namn", "Ingen träff. Kontrollera stavningen eller be din vän om länken.",
         "Tipsad av %s", "Ändra", "För många sökningar: vänta en stund.", "Skriv minst 3 bokstäver."],
    ro: ["Te-a recomandat un prieten?", "Scrie numele prietenului", "Niciun rezultat. Verifică ortografia sau cere-i prietenului linkul.",
         "Recomandat de %s", "Schimbă", "Prea multe căutări: așteaptă puțin.", "Scrie cel puțin 3 litere."],
    zh: ["是朋友推荐的吗？", "输入朋友的名字", "没有匹配结果。请检查拼写，或向朋友索取推荐链接。",
         "推荐人：%s", "更改", "搜索次数过多，请稍候。", "请至少输入 3 个字符。"]
  };

  function words(options) {
    var lang = language(options).toLowerCase().split(/[-_]/)[0];
    if (lang === "no" || lang === "nn") lang = "nb";
    return WORDS[lang] || WORDS.en;
  }

  var STYLE = ".advocacy-lookup{position:relative;margin:0 0 1rem}" +
    ".advocacy-lookup label{display:block}" +
    ".advocacy-lookup input{width:100%;box-sizing:border-box}" +
    ".advocacy-lookup ul{position:absolute;z-index:10;left:0;right:0;margin:.2rem 0 0;padding:.25rem 0;list-style:none;" +
    "background:#fff;border:1px solid #b7bec8;border-radius:.4rem;box-shadow:0 6px 18px rgba(0,0,0,.12)}" +
    ".advocacy-lookup li{padding:.6rem .75rem;cursor:pointer;min-height:1.5rem}" +
    ".advocacy-lookup li[aria-selected=true],.advocacy-lookup li:hover{background:#eef3fd}" +
    ".advocacy-lookup .city{color:#5b6472;margin-left:.4rem}" +
    ".advocacy-lookup [role=status]{font-size:.9rem;color:#5b6472;margin:.3rem 0 0;min-height:1.2em}" +
    ".advocacy-lookup .picked{display:flex;gap:.75rem;align-items:center;flex-wrap:wrap;margin:.75rem 0 0}" +
    ".advocacy-lookup .picked [role=status]{color:inherit;font-size:inherit;font-weight:600;margin:0}";

  var counter = 0;

  // This browser's own random id, so that unique impressions count people (no cookie).
  function visitor() {
    try {
      var id = localStorage.getItem("advocacy_visitor");
      if (!id) {
        id = Math.random().toString(36).slice(2) + Date.now().toString(36);
        localStorage.setItem("advocacy_visitor", id);
      }
      return id;
    } catch (e) {
      return "";
    }
  }

  function lookup(options) {
    var target = typeof options.target === "string" ? document.querySelector(options.target) : options.target;
    if (!target) return Promise.reject(new Error("Advocacy.lookup: give {target} (an element or selector)"));
    var form = options.form || target.closest("form");
    var w = words(options);
    var id = "advocacy-lookup-" + (++counter);
    if (!document.getElementById("advocacy-lookup-style")) {
      var style = document.createElement("style");
      style.id = "advocacy-lookup-style";
      style.textContent = STYLE;
      document.head.appendChild(style);
    }
    target.innerHTML = "";
    var box = document.createElement("div");
    box.className = "advocacy-lookup";
    box.innerHTML = '<label for="' + id + '"></label><input id="' + id + '" type="text" role="combobox" ' +
      'autocomplete="off" aria-autocomplete="list" aria-expanded="false" aria-controls="' + id + '-list">' +
      '<ul id="' + id + '-list" role="listbox" hidden></ul><p role="status" aria-live="polite"></p>';
    target.appendChild(box);
    var label = box.querySelector("label"), input = box.querySelector("input");
    var list = box.querySelector("ul"), status = box.querySelector("[role=status]");
    label.textContent = options.label || w[0];
    input.placeholder = options.placeholder || w[1];
    var results = [], active = -1, timer = null, asked = "";

    function hidden(name) {
      var field = form && form.querySelector("input[name=" + name + "]");
      if (form && !field) {
        field = document.createElement("input");
        field.type = "hidden";
        field.name = name;
        form.appendChild(field);
      }
      return field;
    }

    function show(items) {
      results = items;
      active = -1;
      list.innerHTML = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = id + "-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = item.name;
        if (item.city) {
          var city = document.createElement("span");
          city.className = "city";
          city.textContent = item.city;
          li.appendChild(city);
        }
        li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(item); });
        list.appendChild(li);
      });
      list.hidden = !items.length;
      input.setAttribute("aria-expanded", items.length ? "true" : "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(i) {
      active = (i + results.length) % results.length;
      [].forEach.call(list.children, function (li, j) { li.setAttribute("aria-selected", j === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", id + "-" + active);
    }

    function pick(item) {
      show([]);
      var code = hidden("referral_code"), click = hidden("referral_click"), placement = hidden("referral_placement");
      if (code) { code.value = item.referral_code; code.setAttribute("data-advocacy", "picked"); }
      if (click) click.value = "";
      if (placement) placement.value = "name_lookup";
      box.innerHTML = '<p class="picked"><span role="status"></span> <button type="button"></button></p>';
      box.querySelector("[role=status]").textContent = w[3].replace("%s", item.name + (item.city ? ", " + item.city : ""));
      var change = box.querySelector("button");
      change.textContent = w[4];
      change.addEventListener("click", function () {
        if (code) code.value = "";
        if (placement) placement.value = "";
        options._again = true;
        lookup(options);
      });
      change.focus();
      if (options.onPick) options.onPick(item);
    }

    function search() {
      var q = input.value.replace(/\s+/g, " ").trim();
      if (q === asked) return;
      asked = q;
      if (q.length < 3) { show([]); status.textContent = q ? w[6] : ""; return; }
      call("/api/v1/advocate-lookup", { q: q }).then(function (answer) {
        if (q !== asked) return; // an older answer
        show(answer.results);
        status.textContent = answer.results.length ? "" : w[2];
      }, function (error) {
        show([]);
        status.textContent = error.status === 429 ? w[5] : error.message;
        asked = "";
      });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 250);
    });
    input.addEventListener("keydown", function (e) {
      if (!results.length) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(active + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active - 1); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); pick(results[active]); }
      else if (e.key === "Escape") { show([]); }
    });
    input.addEventListener("blur", function () { setTimeout(function () { show([]); }, 150); });
    if (!options._again) {
      // The field was shown: an impression at the name_lookup placement.
      call("/api/v1/placement-events", { kind: "impression", placement: "name_lookup", visitor: visitor() })
        .catch(function () {});
    }
    return Promise.resolve({ input: input });
  }

  A._ui = { postPurchase: postPurchase, lookup: lookup };
})();
