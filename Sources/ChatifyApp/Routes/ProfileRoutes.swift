import ChatDomain
import Hummingbird

/// The signed-in user's own page and profile changes: `/dashboard`, `/update_profile`
/// (a CSRF-checked change answered with the Flask backend's JSON).
struct ProfileRoutes {
    let site: SiteRoutes

    func addRoutes(to routes: some RouterMethods<SiteRoutes.Context>) {
        routes.get("/dashboard") { request, context in
            try await site.signedIn(request, context) { session, _ in
                site.pages.page("dashboard", DashboardPage(username: session.user.username, email: session.user.email))
            }
        }

        routes.post("/update_profile") { request, context in
            try await site.changing(request, context) { session, form in
                let field = try form.required("field")
                let value = try form.required("value")
                do {
                    try await site.chat.updateProfile(userID: session.user.id, field: field, value: value)
                    return ChatRefusal.profileUpdated
                } catch let refusal as ChatRefusal {
                    return refusal.profileAnswer
                }
            }
        }
    }
}
