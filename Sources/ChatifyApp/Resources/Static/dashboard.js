// Profile updates on the dashboard: POST /update_profile, show the answer as text.
(function () {
    const status = document.getElementById("message");
    document.querySelectorAll("[data-profile-field]").forEach(function (button) {
        button.addEventListener("click", function () {
            const field = button.dataset.profileField;
            const input = document.getElementById(field);
            const body = new URLSearchParams({ field: field, value: input.value });
            fetch("/update_profile", { method: "POST", body: body, credentials: "same-origin" })
                .then(function (response) {
                    if (response.redirected || response.status === 401) { window.location = "/login"; return null; }
                    return response.json();
                })
                .then(function (result) {
                    if (!result) { return; }
                    status.textContent = result.message;
                    status.className = "status " + (result.success ? "ok" : "failed");
                    if (result.success && field === "password") { input.value = ""; }
                })
                .catch(function () {
                    status.textContent = "Could not reach the server";
                    status.className = "status failed";
                });
        });
    });
})();
