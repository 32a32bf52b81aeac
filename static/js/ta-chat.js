// The TA chat: a WebSocket per panel, replies streamed in as they are written.
// Every event carries a whole message with a sequence number, so a reconnect (which replays the
// history) or a repeated event never loses or doubles text. A message typed while the socket is
// down stays in the box and is sent, with the same client id, once it is back.
(function () {
  "use strict";

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function setup(panel) {
    var log = panel.querySelector(".ta-log");
    var form = panel.querySelector(".ta-form");
    var box = form.querySelector("textarea");
    var button = form.querySelector("button");
    var status = panel.querySelector(".ta-status");
    var storeKey = "eureka-ta-" + panel.dataset.wsPath;
    var socket = null;
    var retry = 500;
    var pending = null; // {text, client_id} not yet acknowledged by the server
    var waiting = false; // the TA is writing a reply
    var unavailable = false; // the server closed the socket because the chat cannot work now

    try {
      pending = JSON.parse(window.sessionStorage.getItem(storeKey) || "null");
    } catch (e) {
      pending = null;
    }
    if (pending && !box.value) box.value = pending.text;

    function setWaiting(value) {
      waiting = value;
      box.disabled = value;
      button.disabled = value;
      button.textContent = value ? "The TA is answering…" : "Send";
      if (!value) box.focus();
    }

    function render(message) {
      var empty = log.querySelector(".ta-empty");
      if (empty) empty.remove();
      var item = document.getElementById("ta-msg-" + message.id);
      if (item && Number(item.dataset.seq) > message.seq) return; // an older event: ignore
      if (!item) {
        item = document.createElement("li");
        item.id = "ta-msg-" + message.id;
        item.className = "ta-msg ta-" + message.role;
        var who = document.createElement("span");
        who.className = "ta-who";
        who.textContent = message.role === "student" ? "You" : message.role === "human" ? "Human TA" : "AI TA";
        var body = document.createElement("div");
        body.className = "ta-body";
        item.appendChild(who);
        item.appendChild(body);
        log.appendChild(item);
      }
      item.dataset.seq = message.seq;
      // The server rendered and sanitised this HTML.
      item.querySelector(".ta-body").innerHTML = message.html || (message.complete ? "" : "<em>…</em>");
      var note = item.querySelector(".ta-note");
      if (message.flags && (message.flags.generation_off || message.flags.interrupted || (message.flags.citations || []).length)) {
        if (!note) {
          note = document.createElement("small");
          note.className = "ta-note muted";
          item.appendChild(note);
        }
        note.textContent = "";
        if (message.flags.generation_off) note.appendChild(document.createTextNode("generation off: from the course material. "));
        if (message.flags.interrupted) note.appendChild(document.createTextNode("cut short: the model stopped mid-reply. "));
        (message.flags.citations || []).forEach(function (cite, i) {
          if (i === 0) note.appendChild(document.createTextNode("Sources: "));
          var a = document.createElement("a");
          a.href = cite.url;
          a.textContent = cite.title;
          note.appendChild(a);
          note.appendChild(document.createTextNode(" "));
        });
      }
      if (message.role !== "student") {
        setWaiting(!message.complete);
        if (message.complete && window.eurekaTypeset) window.eurekaTypeset(item);
      }
      log.scrollTop = log.scrollHeight;
    }

    function sendPending() {
      if (pending && socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "message", text: pending.text, client_id: pending.client_id }));
      }
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + window.location.host + panel.dataset.wsPath);
      socket.onopen = function () {
        retry = 500;
        unavailable = false;
        status.textContent = "";
      };
      socket.onmessage = function (event) {
        var data = JSON.parse(event.data);
        if (data.type === "history") {
          log.innerHTML = "";
          data.messages.forEach(render);
          if (!data.messages.length) setWaiting(false);
          sendPending();
        } else if (data.type === "message") {
          if (pending && data.message.role === "student") {
            pending = null;
            window.sessionStorage.removeItem(storeKey);
            box.value = "";
          }
          render(data.message);
        } else if (data.type === "unavailable") {
          // The server says the chat cannot work now; it closes the socket next.
          status.textContent = data.message;
          unavailable = true;
        } else if (data.type === "error") {
          status.textContent = data.message;
          if (pending) {
            box.value = pending.text; // nothing the student wrote is lost
            pending = null;
            window.sessionStorage.removeItem(storeKey);
          }
          setWaiting(false);
        }
      };
      socket.onclose = function (event) {
        if (event.code === 4401 || event.code === 4403) {
          status.textContent = event.code === 4401 ? "Log in again to talk to the TA." : "This chat is not open to you.";
          return;
        }
        if (event.code === 4503 || unavailable) {
          // The server's words stay on screen; try again every few seconds until it is back.
          setTimeout(connect, 5000);
          return;
        }
        status.textContent = "Reconnecting…";
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = box.value.trim();
      if (!text || waiting) return;
      var max = Number(panel.dataset.max || 2000);
      if (text.length > max) {
        status.textContent = "That message is " + text.length + " characters long; the limit is " + max + ".";
        return;
      }
      pending = { text: text, client_id: uuid() };
      window.sessionStorage.setItem(storeKey, JSON.stringify(pending));
      setWaiting(true);
      sendPending();
      if (!socket || socket.readyState !== WebSocket.OPEN) status.textContent = "Offline: your message is kept and will be sent.";
    });

    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".ta-panel[data-ws-path]").forEach(setup);
  });
})();
