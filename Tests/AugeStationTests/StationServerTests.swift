@testable import AugeStation
import Foundation
import XCTest

final class StationServerTests: XCTestCase {
    private func station(_ folder: StationFolder) throws -> LineStation {
        let station = try LineStation(options: LineStation.Options(outputFolder: folder.out))
        station.ingest()
        return station
    }

    func testPagesAPIAndFiles() async throws {
        let folder = try StationFolder()
        try folder.addPart("a.jpg", decision: "ok", label: "ok", id: "a")
        try folder.addPart("b.jpg", decision: "review", label: "dent", heatmap: true, id: "b")
        let server = try await RunningStation(station: station(folder))
        let page = try server.request("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("Auge line station"))
        XCTAssertEqual(try server.request("/station.js").status, 200)
        let status = try server.json("/api/status")
        XCTAssertEqual((status["current"] as? [String: Any])?["id"] as? String, "b")
        XCTAssertEqual(status["review_pending"] as? Int, 1)
        let parts = try server.json("/api/parts?decision=review")["parts"] as! [[String: Any]]
        XCTAssertEqual(parts.map { $0["id"] as! String }, ["b"])
        let photo = try XCTUnwrap(parts[0]["photo_url"] as? String)
        XCTAssertEqual(try server.request(photo).body, "photo b.jpg")
        XCTAssertEqual(try server.request(XCTUnwrap(parts[0]["heatmap_url"] as? String)).status, 200)
        let detail = try server.json("/api/parts/b")
        XCTAssertEqual((detail["record"] as? [String: Any])?["moved_to"] as? String, folder.out + "/review/b.jpg", "the record as logged")
        XCTAssertEqual(detail["model_sha256"] as? String, "abc")
        XCTAssertEqual(try server.request("/api/parts/nothing").status, 404)
        let csv = try server.request("/api/parts.csv")
        XCTAssertEqual(csv.body.split(separator: "\n").count, 3)
        XCTAssertTrue(csv.body.hasPrefix("id,time,path,decision,label"))
        XCTAssertEqual(try server.request("/api/parts?from=yesterday").status, 400)
        let health = try server.json("/healthz")
        XCTAssertEqual(health["status"] as? String, "ok")
        let metrics = try server.request("/metrics").body
        XCTAssertTrue(metrics.contains(#"auge_parts_total{decision="review",label="dent"} 1"#), metrics)
        XCTAssertTrue(metrics.contains("auge_review_pending 1"), metrics)
    }

    /// `auge classify photos/ --sort-into OUT -o OUT/results.jsonl`: records without ids or `moved_to`.
    func testAClassifyRunsFolderShowsItsSortedPhotos() throws {
        let folder = try StationFolder()
        try FileManager.default.createDirectory(atPath: folder.out + "/defect", withIntermediateDirectories: true)
        try Data("photo".utf8).write(to: URL(fileURLWithPath: folder.out + "/defect/d.jpg"))
        folder.append(#"{"path":"/elsewhere/photos/d.jpg","label":"dent","score":0.9,"decision":"defect","ms":2}"#)
        let station = try station(folder)
        let summary = station.summary(of: try XCTUnwrap(station.parts.part(id: "line-1")))
        XCTAssertEqual(summary.photoUrl, "/files/defect/d.jpg")
        XCTAssertNil(summary.time)
    }

    func testTraversalOverHTTPIsRefused() async throws {
        let folder = try StationFolder()
        try folder.addPart("a.jpg", decision: "ok", label: "ok")
        try Data("secret".utf8).write(to: URL(fileURLWithPath: folder.root + "/secret.txt"))
        try FileManager.default.createSymbolicLink(atPath: folder.out + "/ok/link.jpg", withDestinationPath: folder.root + "/secret.txt")
        let server = try await RunningStation(station: station(folder))
        XCTAssertEqual(try server.request("/files/ok/a.jpg").status, 200)
        for attack in [
            "/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/ok/..%2f..%2fsecret.txt", "/files/ok/link.jpg",
            "/files//etc/passwd", "/files/%2fetc%2fpasswd", "/files/ok/%2e%2e/%2e%2e/secret.txt", "/files/..%5csecret.txt",
        ] {
            let reply = try server.request(attack)
            XCTAssertNotEqual(reply.status, 200, attack)
            XCTAssertFalse(reply.body.contains("secret"), attack)
        }
    }

    func testVerdictOverHTTPAndItsCrossSiteGuard() async throws {
        let folder = try StationFolder()
        try folder.addPart("b.jpg", decision: "review", label: "ok", id: "b")
        let server = try await RunningStation(station: station(folder))
        let queue = try server.json("/api/review")
        XCTAssertEqual(queue["pending"] as? Int, 1)
        XCTAssertEqual(queue["ok_labels"] as? [String], ["ok"])
        let verdict = #"{"verdict":"defect","label":"crack","who":"ana"}"#
        // A form posted from another site, a foreign Origin, a cross-site fetch: all refused, nothing journalled.
        XCTAssertEqual(try server.post("/api/review/b", "verdict=defect", headers: ["Content-Type": "application/x-www-form-urlencoded"]).status, 403)
        XCTAssertEqual(try server.post("/api/review/b", verdict, headers: ["Content-Type": "application/json", "Origin": "http://evil.example"]).status, 403)
        XCTAssertEqual(try server.post("/api/review/b", verdict, headers: ["Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"]).status, 403)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.out + "/feedback/crack/b.jpg"))
        XCTAssertEqual(try server.post("/api/review/b", #"{"verdict":"defect","label":"../x"}"#).status, 422)
        let given = try server.post("/api/review/b", verdict, headers: ["Content-Type": "application/json", "Origin": "http://127.0.0.1:\(server.port)"])
        XCTAssertEqual(given.status, 201, given.body)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.out + "/feedback/crack/b.jpg"))
        XCTAssertEqual(try server.json("/api/review")["pending"] as? Int, 0)
        XCTAssertEqual(try server.post("/api/review/undo", #"{"who":"ana"}"#).status, 200)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.out + "/feedback/crack/b.jpg"))
        XCTAssertEqual(try server.post("/api/review/undo", #"{"who":"ana"}"#).status, 409)
    }

    func testTokenIsRequiredOfEveryRequest() async throws {
        let folder = try StationFolder()
        try folder.addPart("a.jpg", decision: "ok", label: "ok")
        let token = "0123456789abcdef0123"
        let server = try await RunningStation(station: station(folder), token: token)
        for target in ["/", "/api/status", "/healthz", "/metrics", "/files/ok/a.jpg", "/api/events"] {
            XCTAssertEqual(try server.request(target).status, 401, target)
            XCTAssertEqual(try server.request(target, headers: ["Authorization": "Bearer wrong-token-wrong-token"]).status, 401, target)
        }
        XCTAssertEqual(try server.post("/api/review/undo", "{}").status, 401)
        XCTAssertEqual(try server.request("/api/status", headers: ["Authorization": "Bearer \(token)"]).status, 200)
        // Opening the screen once with ?token= leaves a cookie the browser sends from then on.
        let first = try server.request("/?token=\(token)")
        XCTAssertEqual(first.status, 200)
        let cookie = try XCTUnwrap(first.headers["set-cookie"])
        XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
        let pair = String(cookie.split(separator: ";")[0])
        XCTAssertEqual(try server.request("/api/status", headers: ["Cookie": pair]).status, 200)
    }

    func testLiveEventsReachAScreenWithoutReload() async throws {
        let folder = try StationFolder()
        let station = try station(folder)
        let server = try await RunningStation(station: station)
        let socket = try RunningStation.connect(port: server.port)
        defer { close(socket) }
        _ = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".withCString { send(socket, $0, strlen($0), 0) }
        try folder.addPart("new.jpg", decision: "defect", label: "dent", id: "fresh")
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(10)
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while !received.contains("\"id\":\"fresh\""), Date() < deadline {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count > 0 { received += String(decoding: buffer[0..<count], as: UTF8.self) }
        }
        XCTAssertTrue(received.contains("text/event-stream"), received)
        XCTAssertTrue(received.contains("event: parts"), received)
        XCTAssertTrue(received.contains("\"id\":\"fresh\""), received)
    }

    /// 100 screens connect and vanish, three times: every one is let go, and the process does not grow.
    func testScreensThatVanishAreLetGo() async throws {
        let folder = try StationFolder()
        let station = try station(folder)
        let server = try await RunningStation(station: station)
        func round() throws {
            var sockets: [Int32] = []
            for _ in 0..<100 {
                let socket = try RunningStation.connect(port: server.port)
                _ = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".withCString { send(socket, $0, strlen($0), 0) }
                sockets.append(socket)
            }
            let deadline = Date().addingTimeInterval(10)
            while station.events.clientCount < 100, Date() < deadline { usleep(20_000) }
            XCTAssertEqual(station.events.clientCount, 100)
            for socket in sockets { close(socket) }
            // A vanished screen is noticed at the next event sent to it (the status, once a second).
            while station.events.clientCount > 0, Date() < deadline.addingTimeInterval(10) { usleep(50_000) }
            XCTAssertEqual(station.events.clientCount, 0)
        }
        try round()
        let before = residentBytes()
        try round()
        try round()
        // AddressSanitizer keeps freed memory in quarantine (256 MB), so there only the let-go count is checked.
        if dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") == nil {
            XCTAssertLessThan(residentBytes() - before, 16 << 20, "200 more screens came and went")
        }
    }

    private func residentBytes() -> Int {
        let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
