import Foundation
import HTTPTypes
import Hummingbird

/// Every request passes here: the token (when one is set), the cross-site check on actions, and the
/// headers that keep the pages from being framed or their files from being sniffed.
struct StationGuard<Context: RequestContext>: RouterMiddleware {
    let token: String?
    static var cookieName: String { "auge_token" }
    private static var fetchSite: HTTPField.Name { HTTPField.Name("Sec-Fetch-Site")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var tokenFromQuery = false
        if let token {
            let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            let cookie = request.cookies[Self.cookieName]?.value
            let query = request.uri.queryParameters["token"].map(String.init)
            tokenFromQuery = query.map { Self.same($0, token) } ?? false
            guard tokenFromQuery || bearer.map({ Self.same($0, token) }) == true || cookie.map({ Self.same($0, token) }) == true else {
                return Response(
                    status: .unauthorized, headers: [.wwwAuthenticate: "Bearer", .contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "This Auge station needs its token: open it once as http://HOST:PORT/?token=TOKEN (the token is in the file given to --http-token).\n")))
            }
        }
        if request.method != .get && request.method != .head {
            if let refusal = Self.crossSiteRefusal(request) {
                return Response(
                    status: .forbidden, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: refusal + "\n")))
            }
        }
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if tokenFromQuery, let token {
            response.setCookie(Cookie(name: Self.cookieName, value: token, path: "/", httpOnly: true, sameSite: .strict))
        }
        return response
    }

    /// Actions come from the station's own pages only: a JSON body (a plain cross-site form cannot send
    /// one without the browser asking first), and an Origin, when the browser sends one, of this host.
    static func crossSiteRefusal(_ request: Request) -> String? {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            return "actions take a JSON body (Content-Type: application/json)"
        }
        if let site = request.headers[fetchSite], site != "same-origin", site != "none" {
            return "refused: a request from another site (Sec-Fetch-Site: \(site))"
        }
        if let origin = request.headers[.origin] {
            guard let host = request.head.authority, origin == "http://\(host)" || origin == "https://\(host)" else {
                return "refused: a request from another origin (\(origin))"
            }
        }
        return nil
    }

    /// Comparison in time that does not depend on where the texts differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
