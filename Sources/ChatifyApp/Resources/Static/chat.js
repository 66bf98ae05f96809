// The chat page on the stock Socket.IO client. Every piece of user text goes into the
// page through textContent, never as HTML.
(function () {
    const roomKey = document.body.dataset.roomKey;
    const currentUserId = document.body.dataset.userId;
    const isOwner = document.body.dataset.isOwner === "true";
    const list = document.getElementById("messages");
    const input = document.getElementById("message-input");
    const sendButton = document.querySelector("[data-send]");
    const errorBox = document.querySelector(".chat-error");
    let csrfToken = document.body.dataset.csrfToken || "";
    const sessionLifetime = Number(document.body.dataset.sessionLifetime) || 900;

    const socket = io();

    function showError(text) {
        errorBox.textContent = text;
        errorBox.hidden = !text;
    }

    function append(item) {
        const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
        list.appendChild(item);
        if (nearBottom) { list.scrollTop = list.scrollHeight; }
    }

    function systemLine(text) {
        const item = document.createElement("li");
        item.className = "message system";
        item.textContent = text;
        append(item);
    }

    function chatLine(data) {
        if (data.username === "System") { systemLine(data.message); return; }
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
        append(item);
    }

    function sendMessage() {
        const message = input.value;
        if (!message.trim()) { return; }
        socket.emit("message", { room: roomKey, message: message });
        input.value = "";
        input.focus();
    }

    // Joined on every connect, so a reconnection puts the socket back in the room. A
    // recovered socket (CONNECTION_STATE_RECOVERY) is still in it: the server then only
    // re-checks membership and announces nothing.
    socket.on("connect", function () {
        showError("");
        socket.emit("join", { room: roomKey });
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
    window.addEventListener("beforeunload", function () {
        socket.emit("leave", { room: roomKey });
    });
})();
