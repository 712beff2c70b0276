import AugeStation
import ArgumentParser
import Foundation
import Synchronization

/// `--http HOST:PORT`, `--http-token FILE`, `--shifts`: the line station's screen (auge watch, auge serve).
struct StationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Serve the line station (live screen, review queue, history, JSON API, /healthz, /metrics) at HOST:PORT; an address other than loopback needs --http-token.", valueName: "host:port"))
    var http: String?

    @Option(help: ArgumentHelp("A file holding the token every request must carry (Authorization: Bearer, or open the screen once with ?token=).", valueName: "file"))
    var httpToken: String?

    @Flag(
        name: .customLong("http-heatmaps"), inversion: .prefixedNo,
        help: "With --http and no --heatmaps: write OUT/heatmaps/ for defect and review parts, for the screen (a classifier's heatmap costs (grid - 1)^2 extra inferences; an anomaly model's is free).")
    var httpHeatmaps = true

    @Option(help: ArgumentHelp("Local times at which shifts start, for the screen's shift counts.", valueName: "hh:mm,..."))
    var shifts = "06:00,14:00,22:00"

    func validate() throws {
        guard let http else {
            if httpToken != nil { throw ValidationError("--http-token needs --http HOST:PORT") }
            return
        }
        let (host, _) = try Self.parseAddress(http)
        if httpToken == nil && !Self.isLoopback(host) {
            throw ValidationError("--http \(http) would open the station to the network: give --http-token FILE (or bind 127.0.0.1)")
        }
        if let httpToken { _ = try Self.readToken(httpToken) }
        do { _ = try ShiftSchedule(shifts) } catch { throw ValidationError("--shifts: \(error)") }
    }

    /// `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` (host 127.0.0.1).
    static func parseAddress(_ text: String) throws -> (String, Int) {
        var host = "127.0.0.1", portText = text
        if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if host.isEmpty { host = "127.0.0.1" }
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ValidationError("--http takes HOST:PORT (e.g. 127.0.0.1:8080), got \(text)")
        }
        return (host, port)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    static func readToken(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--http-token: cannot read \(path)") }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~+/="))
        guard token.count >= 16, token.unicodeScalars.allSatisfy({ allowed.contains($0) && $0.isASCII }) else {
            throw ValidationError("--http-token: \(path) must hold one token of at least 16 letters, digits or -._~+/= (e.g. from `openssl rand -hex 24`)")
        }
        return token
    }

    var schedule: ShiftSchedule { (try? ShiftSchedule(shifts)) ?? .threeShifts }

    /// Starts serving in the background and returns once the address is bound (or throws why it cannot be).
    func start(_ station: LineStation) throws {
        guard let http else { return }
        let (host, port) = try Self.parseAddress(http)
        var options = StationServer.Options()
        options.host = host
        options.port = port
        options.token = try httpToken.map(Self.readToken)
        let server = StationServer(station: station, options: options)
        let outcome = Mutex<Result<Int, any Error>?>(nil)
        let settled = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await server.run { port in
                    outcome.withLock { $0 = .success(port) }
                    settled.signal()
                }
            } catch {
                let beforeBinding = outcome.withLock { state -> Bool in
                    guard case .none = state else { return false }
                    state = .failure(error)
                    return true
                }
                if beforeBinding { settled.signal() } else { log("auge: the line station stopped: \(error)") }
            }
        }
        settled.wait()
        switch outcome.withLock({ $0 })! {
        case .success(let bound):
            let shown = host.contains(":") ? "[\(host)]" : host
            log("auge: line station at http://\(shown):\(bound)/" + (options.token == nil ? "" : " (token required)"))
        case .failure(let error):
            throw StationStartError(description: "cannot serve the line station on \(http): \(error)")
        }
    }
}

struct StationStartError: Error, CustomStringConvertible {
    let description: String
}
