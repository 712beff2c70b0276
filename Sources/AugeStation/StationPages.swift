/// The pages, compiled into the binary (`Pages/`, embedded by the package): a line PC is offline, and an
/// installed `auge` has no resource folder to look in.
struct StationPage: Sendable {
    let route: String
    let contentType: String
    let bytes: [UInt8]

    static let all = [
        StationPage(route: "/", contentType: "text/html; charset=utf-8", bytes: PackageResources.index_html),
        StationPage(route: "/station.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.station_js),
        StationPage(route: "/station.css", contentType: "text/css; charset=utf-8", bytes: PackageResources.station_css),
    ]
}
