// Profile updates on the dashboard: POST /update_profile, show the answer as text.
(function () {
    const status = document.getElementById("message");
    // The double-submit CSRF value (only set when JWT_COOKIE_CSRF_PROTECT is on).
    function csrfToken() {
        const match = document.cookie.match(/(?:^|;\s*)csrf_access_token=([^;]*)/);
        return match ? decodeURIComponent(match[1]) : "";
    }
    document.querySelectorAll("[data-profile-field]").forEach(function (button) {
        button.addEventListener("click", function () {
            const field = button.dataset.profileField;
            const input = document.getElementById(field);
            const body = new URLSearchParams({ field: field, value: input.value });
            fetch("/update_profile", {
                method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-TOKEN": csrfToken() },
            })
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
