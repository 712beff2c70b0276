import AugeStation
import Foundation
import Synchronization
import XCTest

/// An output folder as a watcher leaves it: sorted photos and results.jsonl lines, written by hand.
final class StationFolder {
    let root: String
    let out: String
    private var lines: [String] = []

    init() throws {
        root = NSTemporaryDirectory() + "auge-station-\(UUID().uuidString)"
        out = root + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Puts a photo into `out/<decision>/` and logs its record; returns the record id.
    @discardableResult
    func addPart(
        _ name: String, decision: String, label: String, score: Float = 0.9, time: String = "2026-12-04T10:00:00.000Z",
        heatmap: Bool = false, id: String = UUID().uuidString.lowercased()
    ) throws -> String {
        let folder = out + "/" + decision
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let photo = folder + "/" + name
        try Data("photo \(name)".utf8).write(to: URL(fileURLWithPath: photo))
        var heatmapKey = ""
        if heatmap {
            try FileManager.default.createDirectory(atPath: out + "/heatmaps", withIntermediateDirectories: true)
            let path = out + "/heatmaps/" + name + ".heatmap.png"
            try Data("heatmap".utf8).write(to: URL(fileURLWithPath: path))
            heatmapKey = ",\"heatmap\":\"\(path)\""
        }
        append(
            "{\"path\":\"/line/inbox/\(name)\",\"label\":\"\(label)\",\"score\":\(score),\"decision\":\"\(decision)\",\"ms\":2.5"
                + heatmapKey + ",\"id\":\"\(id)\",\"time\":\"\(time)\",\"moved_to\":\"\(photo)\",\"model\":\"m.onnx\",\"model_sha256\":\"abc\",\"threshold\":0.5}")
        return id
    }

    func append(_ line: String, newline: Bool = true) {
        let path = out + "/results.jsonl"
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = FileHandle(forWritingAtPath: path)!
        handle.seekToEndOfFile()
        handle.write(Data((line + (newline ? "\n" : "")).utf8))
        try? handle.close()
    }
}

/// A station server on a free loopback port, for as long as the test runs.
final class RunningStation {
    let station: LineStation
    let port: Int
    private let task: Task<Void, any Error>

    init(station: LineStation, token: String? = nil) async throws {
        self.station = station
        var options = StationServer.Options()
        options.port = 0
        options.token = token
        let server = StationServer(station: station, options: options)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        task = Task { try await server.run { continuation.yield($0) } }
        var bound: Int?
        for await port in ports { bound = port; break }
        port = bound!
    }

    deinit { task.cancel() }

    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: String
    }

    /// One HTTP/1.1 request over a fresh connection, sent exactly as written (no path normalisation).
    func request(_ target: String, method: String = "GET", headers: [String: String] = [:], body: String? = nil) throws -> Reply {
        let socket = try Self.connect(port: port)
        defer { close(socket) }
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        _ = text.withCString { send(socket, $0, strlen($0), 0) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        let response = String(decoding: received, as: UTF8.self)
        guard let split = response.range(of: "\r\n\r\n") else { throw StationTestError("no HTTP response: \(response)") }
        let head = response[..<split.lowerBound].split(separator: "\r\n")
        let status = Int(head.first?.split(separator: " ")[1] ?? "") ?? 0
        var fields: [String: String] = [:]
        for line in head.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body = String(response[split.upperBound...])
        if fields["transfer-encoding"] == "chunked" { body = Self.unchunk(body) }
        return Reply(status: status, headers: fields, body: body)
    }

    func json(_ target: String, headers: [String: String] = [:]) throws -> [String: Any] {
        let reply = try request(target, headers: headers)
        guard reply.status == 200 else { throw StationTestError("\(target): \(reply.status) \(reply.body)") }
        return try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as! [String: Any]
    }

    func post(_ target: String, _ body: String, headers: [String: String] = ["Content-Type": "application/json"]) throws -> Reply {
        try request(target, method: "POST", headers: headers, body: body)
    }

    static func connect(port: Int) throws -> Int32 {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(socket); throw StationTestError("cannot connect to port \(port)") }
        return socket
    }

    private static func unchunk(_ text: String) -> String {
        var rest = Substring(text), out = ""
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            out += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size + 2), as: UTF8.self))
        }
        return out
    }
}

struct StationTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
