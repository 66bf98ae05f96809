import Hummingbird
import NIOCore

/// What operators and orchestrators poll, open to anyone: `/healthz` (the process
/// answers), `/readyz` (the store answers too), `/metrics` (Prometheus text).
struct HealthRoutes {
    let site: SiteRoutes

    func addRoutes(to routes: some RouterMethods<SiteRoutes.Context>) {
        routes.get("/healthz") { _, _ in Pages.text("ok") }
        routes.get("/readyz") { _, _ in
            do {
                try await site.chat.checkStore()
                return Pages.text("ready")
            } catch {
                return Pages.text("store unavailable: \(error)", status: .serviceUnavailable)
            }
        }
        routes.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: site.metrics.scrape()))
            )
        }
    }
}
