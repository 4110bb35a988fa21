/* Station reports on the worker page's result cards (issue 15; API in geo/web/reports_api.py).
 *
 * finder.js dispatches `gd:cards` after each render of result cards:
 *   document.dispatchEvent(new CustomEvent("gd:cards", {detail: {cards: [{id, element}]}}))
 * For each card this adds what other workers said lately (open reports per
 * type, with the time) and a "反馈 / report a problem" button: one tap per
 * case files the report, with an optional text of at most 200 characters.
 * Nothing else is sent: no position, no identifier. Every text goes in with
 * textContent, never as HTML. An editor's decision wins over reports: the
 * reports it answered are closed and the card says so.
 */
(function () {
  "use strict";

  var MAX_TEXT = 200;
  // Its stylesheet sits beside it; linked here so the page needs only the script tag.
  var self = document.currentScript && document.currentScript.src;
  if (self && !document.querySelector('link[href$="report.css"]')) {
    var sheet = document.createElement("link");
    sheet.rel = "stylesheet";
    sheet.href = self.replace(/report\.js(\?.*)?$/, "report.css");
    document.head.appendChild(sheet);
  }
  // Codes as geo/registry/reports.py REPORT_TYPES (a test compares them).
  var TYPES = [
    ["closed", "应开放时没开门", "Closed when it should be open", "未开放", "closed"],
    ["not_found", "搬走了/找不到", "Moved or not found here", "找不到站点", "not found here"],
    ["no_water", "没有饮用水", "No drinking water", "没有饮用水", "no drinking water"],
    ["toilet_unusable", "厕所不能用", "Toilet unusable", "厕所不能用", "the toilet unusable"],
    ["charging_broken", "充电不能用", "Charging not working", "充电不能用", "charging not working"],
    ["full", "已满", "Full", "已满", "full"],
    ["facility_missing", "列出的设施没有", "A listed facility is missing", "缺少列出的设施", "a listed facility missing"],
    ["facility_unlisted", "有未列出的设施", "A facility is not listed", "有未列出的设施", "an unlisted facility"],
    ["all_good", "一切正常", "All good", "一切正常", "all good"]
  ];
  var BY_CODE = {};
  TYPES.forEach(function (t) { BY_CODE[t[0]] = t; });

  // As the finder: Chinese unless the page asks for English (?lang=en, or <html lang="en">).
  function lang() {
    var asked = new URLSearchParams(window.location.search).get("lang") || document.documentElement.lang || "";
    return asked.toLowerCase().indexOf("en") === 0 ? "en" : "zh";
  }
  function say(zh, en) { return lang() === "en" ? en : zh; }

  function api(id) { return "/api/v1/stations/" + encodeURIComponent(id) + "/reports"; }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Times as people in Guangdong read them.
  function clock(iso, withDay) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var opts = {timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false};
    if (withDay) { opts.month = lang() === "en" ? "short" : "numeric"; opts.day = "numeric"; }
    return new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "zh-CN", opts).format(d);
  }

  function showRecent(box, recent) {
    box.replaceChildren();
    if (!recent) return;
    var open = recent.open || {}, today = recent.open_today || {}, latest = recent.latest || {};
    TYPES.forEach(function (t) {
      var n = open[t[0]];
      if (!n) return;
      var line = el("p", "gd-report-line");
      line.setAttribute("data-report-type", t[0]);
      if (today[t[0]] === n) {
        line.textContent = say(n + " 人反馈今天" + t[3] + "（最近 " + clock(latest[t[0]], false) + "）",
                               n + (n === 1 ? " worker" : " workers") + " reported " + t[4] + " today (latest " +
                               clock(latest[t[0]], false) + ")");
      } else {
        line.textContent = say("近 " + recent.days + " 天 " + n + " 人次反馈" + t[3] + "（最近 " + clock(latest[t[0]], true) + "）",
                               n + (n === 1 ? " report" : " reports") + " of " + t[4] + " in the last " + recent.days +
                               " days (latest " + clock(latest[t[0]], true) + ")");
      }
      box.appendChild(line);
    });
    var decision = recent.decision;
    if (box.firstChild && !decision) {
      box.appendChild(el("p", "gd-report-unchecked", say("以上是工人的反馈，尚未经编辑核实；编辑确认的状态优先",
        "What workers reported, not yet checked by an editor; the status an editor confirms wins")));
    }
    if (decision) {
      var names = (decision.types || []).map(function (c) { return BY_CODE[c] ? say(BY_CODE[c][3], BY_CODE[c][4]) : c; });
      var note = el("p", "gd-report-decision");
      note.textContent = decision.action === "confirm"
        ? say("编辑已于 " + clock(decision.at, true) + " 核实并确认了反馈（" + names.join("、") + "），站点信息已按核实结果更新；以编辑确认的状态为准",
              "An editor confirmed the reports (" + names.join(", ") + ") on " + clock(decision.at, true) +
              "; the station's details are as checked, and the status an editor confirmed wins over reports")
        : say("编辑已于 " + clock(decision.at, true) + " 核查反馈（" + names.join("、") + "）未予采纳；以编辑确认的状态为准",
              "An editor checked the reports (" + names.join(", ") + ") on " + clock(decision.at, true) +
              " and did not accept them; the status an editor confirmed wins over reports");
      box.appendChild(note);
    }
    box.hidden = !box.firstChild;
  }

  function load(id, box) {
    fetch(api(id), {headers: {"Accept": "application/json"}, cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (recent) { showRecent(box, recent); })
      .catch(function () { /* offline: the card stays as it is */ });
  }

  function send(id, code, parts) {
    var text = parts.text.value;
    parts.status.textContent = say("正在发送…", "Sending…");
    parts.status.className = "gd-report-status";
    parts.buttons.forEach(function (b) { b.disabled = true; });
    var body = {type: code};
    if (text) body.text = text;
    fetch(api(id), {method: "POST", headers: {"Content-Type": "application/json", "Accept": "application/json"},
                    body: JSON.stringify(body), cache: "no-store"})
      .then(function (r) { return r.json().then(function (data) { return {ok: r.status === 201, data: data}; }); })
      .then(function (res) {
        if (res.ok) {
          parts.status.textContent = say("已收到，谢谢！", "Received, thank you!");
          parts.status.className = "gd-report-status gd-report-ok";
          parts.text.value = "";
          parts.count.textContent = "0/" + MAX_TEXT;
          parts.panel.hidden = true;
          parts.toggle.setAttribute("aria-expanded", "false");
          showRecent(parts.recent, res.data.reports);
        } else {
          var err = (res.data && res.data.error) || {};
          parts.status.textContent = say(err.message_zh || "发送失败", err.message_en || "Could not send");
          parts.status.className = "gd-report-status gd-report-error";
        }
      })
      .catch(function () {
        parts.status.textContent = say("网络不通，未能发送，请稍后再试", "No connection: not sent; try again later");
        parts.status.className = "gd-report-status gd-report-error";
      })
      .then(function () { parts.buttons.forEach(function (b) { b.disabled = false; }); });
  }

  function build(id, card) {
    var root = el("div", "gd-report");
    var recent = el("div", "gd-report-recent");
    recent.setAttribute("aria-live", "polite");
    recent.hidden = true;
    var toggle = el("button", "gd-report-toggle", say("反馈 / 报告问题", "Report a problem / 反馈"));
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    var panel = el("div", "gd-report-panel");
    panel.hidden = true;
    var label = el("label", "gd-report-label", say("补充说明（可选，最多 200 字）", "Details (optional, up to 200 characters)"));
    var text = el("textarea", "gd-report-text");
    text.maxLength = MAX_TEXT;
    text.rows = 2;
    label.appendChild(text);
    var count = el("span", "gd-report-count", "0/" + MAX_TEXT);
    text.addEventListener("input", function () { count.textContent = text.value.length + "/" + MAX_TEXT; });
    var hint = el("p", "gd-report-hint", say("点一项即发送。匿名：不记录位置和身份。",
                                             "One tap sends it. Anonymous: no position, no identity."));
    var grid = el("div", "gd-report-types");
    var status = el("p", "gd-report-status");
    status.setAttribute("role", "status");
    var parts = {text: text, count: count, status: status, panel: panel, toggle: toggle, recent: recent, buttons: []};
    TYPES.forEach(function (t) {
      var b = el("button", "gd-report-type" + (t[0] === "all_good" ? " gd-report-good" : ""), say(t[1], t[2]));
      b.type = "button";
      b.setAttribute("data-report-type", t[0]);
      b.addEventListener("click", function () { send(id, t[0], parts); });
      parts.buttons.push(b);
      grid.appendChild(b);
    });
    toggle.addEventListener("click", function () {
      panel.hidden = !panel.hidden;
      toggle.setAttribute("aria-expanded", panel.hidden ? "false" : "true");
    });
    panel.append(hint, label, count, grid);
    root.append(recent, toggle, panel, status);
    card.appendChild(root);
    load(id, recent);
  }

  function decorate(card, id) {
    if (!card || !id) return;
    var old = card.querySelector(":scope > .gd-report");
    if (old) old.remove();  // a re-render of the same card: rebuilt, counts fetched afresh
    build(String(id), card);
  }

  document.addEventListener("gd:cards", function (event) {
    var cards = (event.detail && event.detail.cards) || [];
    cards.forEach(function (c) {
      var card = c && c.element;
      decorate(card, (c && c.id) || (card && card.getAttribute("data-station-id")));
    });
  });
  // This script may run after the first cards were drawn (it can arrive after the
  // page's lookup answered): those cards get their report part now.
  Array.prototype.forEach.call(document.querySelectorAll("#cards > li[data-station-id]"), function (card) {
    if (!card.querySelector(":scope > .gd-report")) decorate(card, card.getAttribute("data-station-id"));
  });
})();
