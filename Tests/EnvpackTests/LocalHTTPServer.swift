// A local http server for the download tests: python's http.server on
// 127.0.0.1 with a request handler the test gives, a free port, bounded in
// time (it exits after two minutes whatever happens), killed when done.
import Foundation

final class LocalHTTPServer {
    let process = Process()
    let port: Int

    /// `handler` is python that defines `class H(http.server.BaseHTTPRequestHandler)`;
    /// `root` (its `sys.argv[1]`, as `root`) is the folder it serves from.
    /// `imports` adds modules to `http.server, os, sys, threading`.
    init(root: String, imports: String = "", handler: String) throws {
        let script = """
        import http.server, os, sys, threading\(imports.isEmpty ? "" : ", " + imports)
        root = sys.argv[1]
        threading.Timer(120, lambda: os._exit(0)).start()
        \(handler)
        s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        s.daemon_threads = True
        print(s.server_address[1], flush=True)
        s.serve_forever()
        """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, root]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }
    deinit { stop() }
}
