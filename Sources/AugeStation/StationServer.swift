import AugeInspect
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The line station over HTTP: the pages, their JSON API, photos and heatmaps from the output folder,
/// `/healthz` and `/metrics`. See docs/line-station.md for every route.
public struct StationServer: Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Required of every request when set (bearer header, `auge_token` cookie, or `?token=` once).
        public var token: String?

        public init() {}
    }

    public let station: LineStation
    public let options: Options

    public init(station: LineStation, options: Options) {
        self.station = station
        self.options = options
    }

    /// Serves until cancelled; `listening` gets the bound port (useful with port 0) once requests are taken.
    public func run(listening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "auge.station")
        logger.logLevel = .warning
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "auge"),
            onServerRunning: { channel in listening(channel.localAddress?.port ?? 0) },
            logger: logger)
        let station = self.station
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            group.addTask {
                // results.jsonl is read every 100 ms (by any writer, in this process or not); the status once a second.
                var tick = 0
                while !Task.isCancelled {
                    station.ingest()
                    if tick % 10 == 0 { station.events.publish(name: "status", json: StationJSON.encode(station.status())) }
                    tick += 1
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let station = self.station
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: StationGuard(token: options.token))

        for page in StationPage.all {
            router.get(RouterPath(page.route)) { _, _ in
                Response(
                    status: .ok, headers: [.contentType: page.contentType, .cacheControl: "no-cache"],
                    body: .init(byteBuffer: ByteBuffer(bytes: page.bytes)))
            }
        }

        router.get("api/status") { _, _ in json(station.status()) }

        router.get("api/events") { _, _ -> Response in
            guard let (id, events) = station.events.subscribe() else {
                throw HTTPError(.serviceUnavailable, message: "too many open screens (\(EventHub.maximumClients))")
            }
            let first = "retry: 2000\nevent: status\ndata: \(StationJSON.encode(station.status()))\n\n"
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: ResponseBody { writer in
                    defer { station.events.unsubscribe(id) }
                    try await writer.write(ByteBuffer(string: first))
                    for await event in events { try await writer.write(ByteBuffer(string: event)) }
                    try await writer.finish(nil)
                })
        }

        router.get("api/parts") { request, _ in
            let (query, limit, before) = try partQuery(request)
            let found = station.parts.parts(matching: query, limit: limit, before: before)
            return json(PartList(parts: found.map(station.summary(of:)), more: found.count == limit))
        }

        router.get("api/parts.csv") { request, _ in
            let (query, _, _) = try partQuery(request)
            let csv = HistoryCSV.make(station.parts.parts(matching: query).reversed(), reviews: station.reviews.verdicts)
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/csv; charset=utf-8",
                    .contentDisposition: "attachment; filename=\"auge-results.csv\"",
                ],
                body: .init(byteBuffer: ByteBuffer(string: csv)))
        }

        router.get("api/parts/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let part = station.parts.part(id: id) else { throw HTTPError(.notFound, message: "no part \(id)") }
            let page = StationJSON.encode(
                PartPage(
                    summary: station.summary(of: part), model: part.model,
                    modelSha256: part.modelSHA256, threshold: part.threshold))
            // The record goes out exactly as it was logged.
            let body = "{\"record\":" + part.line + "," + page.dropFirst()
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        }

        router.get("api/review") { request, _ in
            let decisions = Set((request.uri.queryParameters["decision"].map(String.init) ?? "review").split(separator: ",").map(String.init))
            let pending = station.reviewQueue(decisions: decisions, limit: .max)
            let labels = station.verdictLabels()
            return json(
                ReviewQueue(
                    pending: pending.count, parts: pending.prefix(50).map(station.summary(of:)),
                    okLabels: labels.ok, defectLabels: labels.defects))
        }

        router.post("api/review/undo") { request, context in
            let body = try await request.decode(as: UndoBody.self, context: context)
            guard let undone = try station.undoLastVerdict(who: body.who ?? "operator") else {
                throw HTTPError(.conflict, message: "there is no verdict to undo")
            }
            return json(undone)
        }

        router.post("api/review/:id") { request, context in
            let id = try context.parameters.require("id")
            let body = try await request.decode(as: VerdictBody.self, context: context)
            do {
                let label = body.label ?? (body.verdict == .ok ? station.verdictLabels().ok.first! : "")
                let record = try station.give(try Verdict(kind: body.verdict, label: label), partID: id, who: body.who ?? "operator")
                return json(record, status: .created)
            } catch let error as StationError {
                throw HTTPError(.unprocessableContent, message: error.description)
            }
        }

        router.get("api/model") { _, _ in
            do {
                guard let info = try station.modelInfo() else { throw HTTPError(.notFound, message: "this station was started without a model file") }
                return json(info)
            } catch let error as StationError {
                throw HTTPError(.notFound, message: error.description)
            }
        }

        router.get("files/**") { request, _ in
            let raw = request.head.path ?? ""
            let path = raw.split(separator: "?", maxSplits: 1).first.map(String.init) ?? raw
            guard path.hasPrefix("/files/"), let file = station.files.resolve(urlPath: String(path.dropFirst("/files/".count))),
                let data = FileManager.default.contents(atPath: file)
            else {
                throw HTTPError(.notFound, message: "no such file in the output folder")
            }
            return Response(
                status: .ok, headers: [.contentType: OutputFiles.contentType(of: file), .cacheControl: "private, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }

        router.get("healthz") { _, _ in
            let status = station.status()
            let health = Health(
                status: status.watcher.map { $0.alive ? "ok" : "stalled" } ?? "ok", watcher: status.watcher,
                parts: station.parts.count, latestPart: status.current?.time)
            return json(health, status: health.status == "ok" ? .ok : .serviceUnavailable)
        }

        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: station.prometheusText())))
        }
        return router
    }
}

// MARK: - Request and response bodies

private struct PartList: Encodable { let parts: [LineStation.Summary]; let more: Bool }
private struct ReviewQueue: Encodable { let pending: Int; let parts: [LineStation.Summary]; let okLabels: [String]; let defectLabels: [String] }
private struct PartPage: Encodable {
    let summary: LineStation.Summary
    let model: String?
    let modelSha256: String?
    let threshold: Float?
}
private struct Health: Encodable {
    let status: String
    let watcher: LineStation.Status.Watcher?
    let parts: Int
    let latestPart: String?
}
private struct VerdictBody: Decodable { let verdict: Verdict.Kind; let label: String?; let who: String? }
private struct UndoBody: Decodable { let who: String? }

private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(string: StationJSON.encode(value))))
}

/// `from`, `to` (ISO-8601 or seconds since 1970), `decision` (comma-separated), `label`, `limit`, `before`.
private func partQuery(_ request: Request) throws -> (PartQuery, Int, String?) {
    let parameters = request.uri.queryParameters
    func time(_ key: String) throws -> Double? {
        guard let text = parameters[Substring(key)].map(String.init), !text.isEmpty else { return nil }
        if let seconds = Double(text) { return seconds }
        guard let seconds = StationTime.parse(text) ?? StationTime.parse(text + ":00.000Z") ?? StationTime.parse(text + ".000Z") else {
            throw HTTPError(.badRequest, message: "\(key) must be an ISO-8601 UTC time (2026-12-04T06:00:00Z) or seconds since 1970, got \(text)")
        }
        return seconds
    }
    let decisions = parameters["decision"].flatMap { $0.isEmpty ? nil : Set($0.split(separator: ",").map(String.init)) }
    let label = parameters["label"].flatMap { $0.isEmpty ? nil : String($0) }
    let limit = parameters["limit"].flatMap { Int($0) }.map { max(1, min($0, 1000)) } ?? 100
    let query = PartQuery(from: try time("from"), to: try time("to"), decisions: decisions, label: label)
    return (query, limit, parameters["before"].map(String.init))
}

/// The history as a spreadsheet: one row per part, the operator's verdict beside the model's decision.
enum HistoryCSV {
    static func make(_ parts: some Sequence<Part>, reviews: [String: ReviewRecord]) -> String {
        var lines = ["id,time,path,decision,label,score,anomaly_score,ms,error,moved_to,model,model_sha256,threshold,verdict,verdict_label,verdict_by"]
        for part in parts {
            let review = reviews[part.id]
            let fields: [String?] = [
                part.id, part.time.map { StationTime.format(Date(timeIntervalSince1970: $0)) }, part.path, part.decision, part.label,
                part.score.map { "\($0)" }, part.anomalyScore.map { "\($0)" }, part.ms.map { "\($0)" }, part.error, part.movedTo,
                part.model, part.modelSHA256, part.threshold.map { "\($0)" }, review?.verdict?.rawValue, review?.label, review?.who,
            ]
            lines.append(fields.map { ResultFormatter.csvField($0 ?? "") }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
