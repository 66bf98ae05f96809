// The chat page on the stock Socket.IO client. Every piece of user text goes into the
// page through textContent, never as HTML.
(function () {
    let roomKey = document.body.dataset.roomKey;
    const currentUserId = document.body.dataset.userId;
    const isOwner = document.body.dataset.isOwner === "true";
    const list = document.getElementById("messages");
    const input = document.getElementById("message-input");
    const sendButton = document.querySelector("[data-send]");
    const errorBox = document.querySelector(".chat-error");
    let csrfToken = document.body.dataset.csrfToken || "";
    const sessionLifetime = Number(document.body.dataset.sessionLifetime) || 900;

    const socket = io();
    const counter = document.getElementById("user-count");
    const memberList = document.getElementById("member-list");
    const typingBox = document.getElementById("typing-indicator");
    const historyStatus = document.querySelector(".history-status");
    // History: the newest page comes with the first join, older ones on scrolling up.
    let historyLoaded = false;
    let olderCursor = null;
    let loadingOlder = false;
    // Bumped whenever the list starts again: an older page asked for before that belongs
    // to the old list and is dropped when it arrives.
    let listGeneration = 0;
    // Every message shown has its id here, so none is shown twice; the newest one's id
    // is what a reconnect asks the server to catch up from.
    const shownIds = new Set();
    let lastMessageId = null;
    // Between a join and its acknowledgement the history or missed messages are on their
    // way: live messages wait in `held` so they come after them, in order.
    let joining = null;
    let held = [];

    function showError(text) {
        errorBox.textContent = text;
        errorBox.hidden = !text;
    }

    function append(item) {
        const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
        list.appendChild(item);
        if (nearBottom) { list.scrollTop = list.scrollHeight; }
    }

    // Older messages go above what is shown, keeping the view where it was.
    function prepend(items) {
        const fromBottom = list.scrollHeight - list.scrollTop;
        const first = list.firstChild;
        items.forEach(function (item) { list.insertBefore(item, first); });
        list.scrollTop = list.scrollHeight - fromBottom;
    }

    function systemLine(text) {
        const item = document.createElement("li");
        item.className = "message system";
        item.textContent = text;
        append(item);
    }

    function chatLine(data) {
        if (joining) { held.push(data); return; }
        if (data.username === "System") { systemLine(data.message); return; }
        if (data.id && shownIds.has(data.id)) { return; }
        append(messageItem(data));
        if (data.id) { lastMessageId = data.id; }
    }

    function unshown(messages) {
        return messages.filter(function (data) { return !(data.id && shownIds.has(data.id)); });
    }

    function messageItem(data) {
        const item = document.createElement("li");
        item.className = "message" + (data.user_id === currentUserId ? " mine" : "");
        const meta = document.createElement("div");
        meta.className = "meta";
        const who = document.createElement("strong");
        who.textContent = data.username;
        const when = document.createElement("span");
        when.textContent = data.timestamp;
        meta.append(who, when);
        if (isOwner && data.user_id && data.user_id !== currentUserId) {
            const kick = document.createElement("button");
            kick.type = "button";
            kick.className = "kick";
            kick.textContent = "Kick";
            kick.addEventListener("click", function () {
                socket.emit("kick_user", { room: roomKey, target_user_id: data.user_id });
            });
            meta.appendChild(kick);
        }
        const text = document.createElement("div");
        text.className = "text";
        text.textContent = data.message;
        item.append(meta, text);
        if (data.id) {
            item.dataset.messageId = data.id;
            shownIds.add(data.id);
        }
        return item;
    }

    function isPage(page) {
        return page && page.room === roomKey && Array.isArray(page.messages);
    }

    // The newest page on opening, older ones on scrolling up: above what is shown.
    function showHistory(page) {
        if (!isPage(page)) { return; }
        olderCursor = page.before || null;
        const fresh = unshown(page.messages);
        if (lastMessageId === null && fresh.length) { lastMessageId = fresh[fresh.length - 1].id || null; }
        prepend(fresh.map(messageItem));
        historyStatus.textContent = olderCursor ? "" : (page.messages.length ? "Start of the conversation" : "");
        historyStatus.hidden = !historyStatus.textContent;
    }

    // What came while the page was cut off, below what it shows.
    function showMissed(messages) {
        unshown(messages).forEach(function (data) {
            append(messageItem(data));
            if (data.id) { lastMessageId = data.id; }
        });
    }

    function restartHistory(page) {
        listGeneration += 1;
        loadingOlder = false;
        list.replaceChildren();
        shownIds.clear();
        lastMessageId = null;
        showHistory(page);
        list.scrollTop = list.scrollHeight;
        systemLine("You missed more messages than fit here: scroll up for the rest.");
    }

    function joined() {
        joining = null;
        const waiting = held;
        held = [];
        waiting.forEach(chatLine);
    }

    function loadOlder() {
        if (!olderCursor || loadingOlder) { return; }
        loadingOlder = true;
        const generation = listGeneration;
        socket.emit("history", { room: roomKey, before: olderCursor }, function (page) {
            if (generation !== listGeneration) { return; }
            loadingOlder = false;
            showHistory(page);
        });
    }
    list.addEventListener("scroll", function () {
        if (list.scrollTop < 40) { loadOlder(); }
    });

    // Presence: "Online: N" and who, from the server's presence events.
    function showPresence(data) {
        if (!data || data.room !== roomKey) { return; }
        counter.textContent = String(data.count);
        memberList.replaceChildren();
        (data.users || []).forEach(function (user) {
            const item = document.createElement("li");
            item.textContent = user.username;
            if (user.user_id === currentUserId) { item.className = "me"; }
            memberList.appendChild(item);
        });
    }

    // Typing: who is typing, as the server says; each entry also ends on its own.
    const typists = new Map();
    function showTypists() {
        const names = Array.from(typists.values()).map(function (entry) { return entry.name; });
        typingBox.textContent = names.length === 0 ? ""
            : names.join(", ") + (names.length === 1 ? " is typing\u2026" : " are typing\u2026");
        typingBox.hidden = names.length === 0;
    }
    function onTyping(data) {
        if (!data || data.room !== roomKey || data.user_id === currentUserId) { return; }
        const previous = typists.get(data.user_id);
        if (previous) { window.clearTimeout(previous.timer); }
        if (data.typing) {
            const timer = window.setTimeout(function () { typists.delete(data.user_id); showTypists(); }, 8000);
            typists.set(data.user_id, { name: data.username, timer: timer });
        } else {
            typists.delete(data.user_id);
        }
        showTypists();
    }
    let lastTypingSent = 0;
    function typed() {
        const now = Date.now();
        if (!input.value) { return; }
        // The server expires a start after 5 s: renew it every 2 s while typing.
        if (now - lastTypingSent > 2000) {
            lastTypingSent = now;
            socket.emit("typing", { room: roomKey, typing: true });
        }
    }
    function stoppedTyping() {
        if (lastTypingSent) {
            lastTypingSent = 0;
            socket.emit("typing", { room: roomKey, typing: false });
        }
    }

    function sendMessage() {
        const message = input.value;
        if (!message.trim()) { return; }
        socket.emit("message", { room: roomKey, message: message });
        lastTypingSent = 0;  // the server ends typing with the message
        input.value = "";
        input.focus();
    }

    // Joined on every connect, so a reconnection puts the socket back in the room. A
    // recovered socket (CONNECTION_STATE_RECOVERY) is still in it and got what it missed
    // replayed: the server then only re-checks membership and announces nothing. Any
    // other reconnection asks for the messages after the newest one shown.
    socket.on("connect", function () {
        showError("");
        // Live messages held by a join that never finished come again with this one.
        held = [];
        // The client drops the acks of requests cut off by the disconnect: a page request
        // still marked as under way would never end.
        listGeneration += 1;
        loadingOlder = false;
        joining = null;
        const request = { room: roomKey, presence: true };
        if (!historyLoaded) {
            request.history = true;
            joining = "history";
        } else if (!socket.recovered) {
            if (lastMessageId) { request.since = lastMessageId; } else { request.history = true; }
            joining = lastMessageId ? "since" : "history";
        }
        historyLoaded = true;
        socket.emit("join", request, joined);
    });
    socket.on("connect_error", function (error) {
        showError(error && error.message === "Authentication required"
            ? "Your session has ended. Please log in again."
            : "Cannot reach the chat server; retrying\u2026");
        if (error && error.message === "Authentication required") {
            window.setTimeout(function () { window.location = "/login"; }, 1500);
        }
    });
    socket.on("message", chatLine);
    socket.on("history", function (page) {
        if (joining === "since") {
            if (!isPage(page)) { return; }
            // More was missed than one page holds: the page's cursor leads into the gap,
            // so the list starts again from this page and scrolling up walks the gap.
            if (page.before) { restartHistory(page); } else { showMissed(page.messages); }
            return;
        }
        showHistory(page);
    });
    socket.on("presence", showPresence);
    socket.on("typing", onTyping);
    socket.on("moderation", function (data) {
        if (!data || data.room !== roomKey || data.user_id !== currentUserId) { return; }
        if (data.action === "mute") { showError("The owner muted you: you can read but not post."); }
        if (data.action === "unmute") { showError(""); }
    });
    // The owner renamed the room or gave it a new key: follow it.
    socket.on("room_updated", function (data) {
        if (!data || data.room !== roomKey) { return; }
        roomKey = data.key;
        document.body.dataset.roomKey = data.key;
        document.querySelector(".chat-header h1").textContent = data.name;
        document.title = data.name + " - Chat";
        const settings = document.getElementById("settings-link");
        if (settings) { settings.href = "/room/" + encodeURIComponent(data.key) + "/settings"; }
        document.querySelectorAll("form[action^='/leave_room/']").forEach(function (form) {
            form.action = "/leave_room/" + encodeURIComponent(data.key);
        });
        window.history.replaceState(null, "", "/chat/" + encodeURIComponent(data.key));
    });
    socket.on("user_kicked", function (data) {
        if (data.kicked_user_id === currentUserId) {
            socket.disconnect();
            window.location = "/dashboard";
            return;
        }
        systemLine(data.message);
    });
    socket.on("chat_error", function (data) {
        showError(data && data.message ? data.message : "Something went wrong");
    });

    // Tokens live JWT_ACCESS_TOKEN_EXPIRES seconds: while the page is open it renews its
    // cookie at a third of that, and hands the socket a ticket so its session lasts too.
    function renewSession() {
        fetch("/refresh_session", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-TOKEN": csrfToken } })
            .then(function (response) { return response.ok && !response.redirected ? response.json() : null; })
            .then(function (result) {
                if (!result) { return; }
                const match = document.cookie.match(/(?:^|;\s*)csrf_access_token=([^;]*)/);
                if (match) { csrfToken = decodeURIComponent(match[1]); }
                socket.emit("renew_session", { ticket: result.ticket });
            })
            .catch(function () { /* offline: the next round tries again */ });
    }
    window.setInterval(renewSession, Math.max(10, sessionLifetime / 3) * 1000);

    sendButton.addEventListener("click", sendMessage);
    input.addEventListener("keypress", function (event) {
        if (event.key === "Enter") { sendMessage(); }
    });
    input.addEventListener("input", typed);
    input.addEventListener("blur", stoppedTyping);
    window.addEventListener("beforeunload", function () {
        socket.emit("leave", { room: roomKey });
    });
})();
