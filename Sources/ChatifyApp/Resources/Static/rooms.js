// My rooms: copy a room's key, delete a room after confirmation.
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
    document.querySelectorAll("[data-delete-key]").forEach(function (button) {
        button.addEventListener("click", function () {
            const name = button.closest("li").querySelector(".room-name").textContent;
            if (window.confirm("Delete the room \u201c" + name + "\u201d? This cannot be undone.")) {
                window.location = "/delete_room/" + encodeURIComponent(button.dataset.deleteKey);
            }
        });
    });
})();
