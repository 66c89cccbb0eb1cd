// Downloading package archives over http(s) with AsyncHTTPClient (SwiftNIO:
// no libcurl, no busy waiting). The body streams straight into a file the
// package cache owns. A connect timeout and a curl-style low-speed limit
// (fewer than LIMIT bytes a second over TIME seconds, headers included)
// give up on servers that stall or trickle; each failure is one line in
// plain words naming the URL. $http_proxy, $https_proxy and $no_proxy are
// honoured, as they were when downloads went through libcurl.
// A hostile server must not fill the disk: a body is refused as soon as it
// passes the Content-Length the server announced, or the size cap
// (`--max-package-size`); an announced length above the cap is refused
// before any of the body is written.
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// How long envpack waits on a server (`--connect-timeout`,
/// `--low-speed-limit`, `--low-speed-time`).
public struct DownloadLimits: Sendable {
    /// Seconds to establish a connection.
    public var connectTimeout = 30
    /// Bytes a second below which a download is too slow...
    public var lowSpeedLimit = 1000
    /// ... when it stays below for this many seconds.
    public var lowSpeedTime = 30
    /// Tries per package (the first and the retries).
    public var attempts = 3
    /// The largest package archive a server may send, in bytes.
    public var maxPackageSize = DownloadLimits.defaultMaxPackageSize
    /// 8 GiB: conda packages of more than a few GiB are rare.
    public static let defaultMaxPackageSize = 8 << 30

    public init() {}

    /// A byte count as `--max-package-size` takes it: a number, optionally
    /// followed by K, M, G or T (powers of 1024; "KiB", "MB" and co. too).
    /// nil for anything else, or above 2^50.
    public static func parseSize(_ text: String) -> Int? {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        var unit = 1
        let units: [(String, Int)] = [("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)]
        for suffix in ["IB", "B"] where digits.uppercased().hasSuffix(suffix) && digits.count > suffix.count {
            digits = digits.dropLast(suffix.count)
            break
        }
        if let last = digits.last, let (_, factor) = units.first(where: { $0.0 == last.uppercased() }) {
            unit = factor
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits) else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
        guard !overflow, bytes <= 1 << 50 else { return nil }
        return bytes
    }
}

/// Why one download attempt failed, in plain words, and whether another
/// attempt may help.
struct DownloadFailure: Error {
    var message: String
    var retry: Bool
}

final class PackageDownloader: @unchecked Sendable {
    let limits: DownloadLimits
    private let environment: [String: String]
    /// One client per proxy ("" for none), made when first needed.
    private var clients: [String: HTTPClient] = [:]
    private let lock = NSLock()

    init(limits: DownloadLimits, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.limits = limits
        self.environment = environment
    }

    deinit {
        for client in clients.values { try? client.syncShutdown() }
    }

    private func client(for url: URL) -> HTTPClient {
        let proxy = Self.proxy(for: url, environment: environment)
        let key = proxy.map { "\($0.host):\($0.port)" } ?? ""
        lock.lock(); defer { lock.unlock() }
        if let client = clients[key] { return client }
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(Int64(max(1, limits.connectTimeout))),
                                      read: .seconds(Int64(max(1, limits.lowSpeedTime))))
        configuration.redirectConfiguration = .follow(max: 10, allowCycles: false)
        configuration.decompression = .disabled
        if let proxy { configuration.proxy = .server(host: proxy.host, port: proxy.port, authorization: proxy.authorization) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        clients[key] = client
        return client
    }

    /// The proxy for `url` from $https_proxy / $http_proxy (either case),
    /// unless $no_proxy names its host (or a domain above it, or `*`).
    static func proxy(for url: URL, environment: [String: String]) -> (host: String, port: Int, authorization: HTTPClient.Authorization?)? {
        let names = url.scheme?.lowercased() == "https" ? ["https_proxy", "HTTPS_PROXY"] : ["http_proxy", "HTTP_PROXY"]
        guard let value = names.compactMap({ environment[$0] }).first(where: { !$0.isEmpty }) else { return nil }
        let host = (url.host ?? "").lowercased()
        for raw in (environment["no_proxy"] ?? environment["NO_PROXY"] ?? "").split(separator: ",") {
            var entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if entry == "*" { return nil }
            if entry.hasPrefix(".") { entry.removeFirst() }
            if let colon = entry.lastIndex(of: ":"), !entry.contains("]") { entry = String(entry[..<colon]) }
            if !entry.isEmpty && (host == entry || host.hasSuffix("." + entry)) { return nil }
        }
        guard let proxyURL = URL(string: value.contains("://") ? value : "http://" + value), let proxyHost = proxyURL.host else { return nil }
        var authorization: HTTPClient.Authorization? = nil
        if let user = proxyURL.user {
            authorization = .basic(username: user.removingPercentEncoding ?? user,
                                   password: proxyURL.password.map { $0.removingPercentEncoding ?? $0 } ?? "")
        }
        return (proxyHost, proxyURL.port ?? 80, authorization)
    }

    /// One attempt: `url` into the open, empty file `fd`. Returns the byte count.
    func fetch(_ url: URL, into fd: Int32, path: String) -> Result<Int, DownloadFailure> {
        let request: HTTPClient.Request
        do { request = try HTTPClient.Request(url: url.absoluteString) } catch {
            return .failure(DownloadFailure(message: "not a URL envpack can download", retry: false))
        }
        let delegate = FileWritingDelegate(fd: fd, path: path, cap: max(0, limits.maxPackageSize))
        let task = client(for: url).execute(request: request, delegate: delegate)
        let window = max(1, limits.lowSpeedTime), limit = max(0, limits.lowSpeedLimit)
        // Once a second, on the event loop: too few bytes over the window ends it.
        let watchdog = task.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { repeated in
            if let got = delegate.tooSlow(window: window, limit: limit) {
                task.fail(reason: DownloadFailure(
                    message: got == 0
                        ? "the server sent nothing for \(window) s (see --low-speed-time)"
                        : "too slow: \(got) bytes in \(window) s, fewer than \(limit) a second (see --low-speed-limit, --low-speed-time)",
                    retry: true))
                repeated.cancel()
            }
        }
        defer { watchdog.cancel() }
        do {
            return .success(try task.wait())
        } catch {
            return .failure(Self.describe(error, limits: limits))
        }
    }

    /// An error of AsyncHTTPClient or SwiftNIO in plain words.
    static func describe(_ error: Error, limits: DownloadLimits) -> DownloadFailure {
        if let failure = error as? DownloadFailure { return failure }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout:
                return DownloadFailure(message: "no connection within \(limits.connectTimeout) s (see --connect-timeout)", retry: true)
            case .readTimeout, .getConnectionFromPoolTimeout:
                return DownloadFailure(message: "the server sent nothing for \(limits.lowSpeedTime) s (see --low-speed-time)", retry: true)
            case .remoteConnectionClosed:
                return DownloadFailure(message: "the server closed the connection before the end", retry: true)
            case .redirectLimitReached, .redirectCycleDetected:
                return DownloadFailure(message: "too many redirects", retry: false)
            case .invalidProxyResponse, .httpProxyHandshakeTimeout, .proxyAuthenticationRequired:
                return DownloadFailure(message: "the proxy (from $http_proxy or $https_proxy) did not open a connection (\(error))", retry: true)
            case .cancelled:
                return DownloadFailure(message: "cancelled", retry: false)
            default:
                return DownloadFailure(message: "the request failed (\(error))", retry: true)
            }
        }
        if let error = error as? IOError {
            return DownloadFailure(message: "connection failed: \(String(cString: strerror(error.errnoCode)))", retry: true)
        }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") {
            return DownloadFailure(message: "connection refused", retry: true)
        }
        return DownloadFailure(message: "the connection failed (\(text.prefix(200)))", retry: true)
    }
}

/// Writes the body of a 2xx answer to the file as it arrives, never more
/// than the announced length or the cap, and counts the bytes for the
/// low-speed check.
private final class FileWritingDelegate: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Int
    let fd: Int32
    let path: String
    /// The most bytes accepted (`--max-package-size`).
    let cap: Int
    private let lock = NSLock()
    private var received = 0
    /// The Content-Length of the answer, when it gave one.
    private var announced: Int? = nil
    private var samples: [(time: NIODeadline, bytes: Int)] = [(NIODeadline.now(), 0)]

    init(fd: Int32, path: String, cap: Int) {
        self.fd = fd
        self.path = path
        self.cap = cap
    }

    func didReceiveHead(task: HTTPClient.Task<Int>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let code = Int(head.status.code)
        guard (200..<300).contains(code) else {
            return task.eventLoop.makeFailedFuture(DownloadFailure(
                message: "the server answered HTTP \(code) \(head.status.reasonPhrase)",
                retry: code >= 500 || code == 429 || code == 408))
        }
        let lengths = head.headers["Content-Length"]
        if let text = lengths.first {
            // Several lengths that disagree, or one that is no number, are
            // no promise at all: refused as a broken answer.
            guard lengths.allSatisfy({ $0 == text }),
                  let length = Int(text.trimmingCharacters(in: .whitespaces)), length >= 0 else {
                return task.eventLoop.makeFailedFuture(DownloadFailure(message: "the server sent an invalid Content-Length (\(lengths.joined(separator: ", ").prefix(80)))", retry: false))
            }
            if length > cap {
                return task.eventLoop.makeFailedFuture(DownloadFailure(
                    message: "the server announces \(length) bytes, more than the \(cap) allowed (see --max-package-size)", retry: false))
            }
            lock.lock(); announced = length; lock.unlock()
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Int>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        lock.lock()
        let total = received + buffer.readableBytes
        let announced = self.announced
        lock.unlock()
        if let announced, total > announced {
            return task.eventLoop.makeFailedFuture(DownloadFailure(
                message: "the server sent more than the \(announced) bytes it announced (Content-Length)", retry: false))
        }
        if total > cap {
            return task.eventLoop.makeFailedFuture(DownloadFailure(
                message: "the server sent more than the \(cap) bytes allowed (see --max-package-size)", retry: false))
        }
        do {
            try buffer.withUnsafeReadableBytes { try writeAll(fd: fd, $0, displayPath: path) }
        } catch {
            return task.eventLoop.makeFailedFuture(DownloadFailure(message: "cannot store the download: \(error)", retry: false))
        }
        lock.lock(); received = total; lock.unlock()
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Int>) throws -> Int {
        lock.lock(); defer { lock.unlock() }
        if let announced, received != announced {
            throw DownloadFailure(message: "the server sent \(received) of the \(announced) bytes it announced (Content-Length)", retry: true)
        }
        return received
    }

    /// The bytes of the last `window` seconds when fewer than `limit` a
    /// second came, else nil (called once a second).
    func tooSlow(window: Int, limit: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        do {
            let now = NIODeadline.now()
            samples.append((now, received))
            let start = now - .seconds(Int64(window))
            while samples.count > 1 && samples[1].time <= start { samples.removeFirst() }
            guard let oldest = samples.first, oldest.time <= start else { return nil }
            let got = received - oldest.bytes
            return got < limit * window ? got : nil
        }
    }
}
