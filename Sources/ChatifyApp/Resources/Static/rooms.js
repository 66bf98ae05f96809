// My rooms: copy a room's key; delete a room (a POST form) after confirmation.
(function () {
    document.querySelectorAll("[data-copy-key]").forEach(function (button) {
        button.addEventListener("click", function () {
            const key = button.dataset.copyKey;
            const done = function () { button.textContent = "Copied"; };
            if (navigator.clipboard) {
                navigator.clipboard.writeText(key).then(done, function () { window.prompt("Room key", key); });
            } else {
                window.prompt("Room key", key);
            }
        });
    });
    document.querySelectorAll("form[data-confirm-delete]").forEach(function (form) {
        form.addEventListener("submit", function (event) {
            const name = form.closest("li").querySelector(".room-name").textContent;
            if (!window.confirm("Delete the room \u201c" + name + "\u201d? This cannot be undone.")) {
                event.preventDefault();
            }
        });
    });
})();
