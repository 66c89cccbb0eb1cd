// The PyPI half of `envpack bundle`: each pip distribution PipExport can lock
// is copied into the bundle's `wheels/` from where its wheel file still is
// (the file:// URL its direct_url.json names, or a package cache: CACHE/FILE
// or CACHE/.envpack/SHA256/FILE, where install keeps downloaded wheels),
// hashed while it is copied and kept only when it is the locked wheel. The
// spec names it by a path relative to the bundle (`# pip NAME @
// wheels/FILE#sha256=HEX`), so the bundle can move. Never the network: a
// wheel found nowhere, or found changed, is an error naming it, since a
// bundle that claims a wheel it does not hold installs without it elsewhere.
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum BundleWheels {
    /// Copies `wheels` into `staging/wheels/`; returns the spec's `# pip` lines.
    static func copy(_ wheels: [ExportedWheel], into staging: String, pkgsDirs: [String]) throws -> [String] {
        guard !wheels.isEmpty else { return [] }
        let folder = staging + "/wheels"
        guard mkdir(folder, 0o755) == 0 else { throw EnvpackError.writeFailed(path: folder, reason: errnoMessage()) }
        var lines: [String] = []
        var copied: [String: String] = [:]   // file name -> sha256
        for wheel in wheels {
            let label = "PyPI package \(wheel.name) \(wheel.version)"
            guard let fileName = fileName(of: wheel.url) else {
                throw EnvpackError.malformedFile(path: String(wheel.url.prefix(300)), reason: "\(label): not a plain wheel file name, cannot bundle it")
            }
            if let sha = copied[fileName] {
                guard sha == wheel.sha256 else {
                    throw EnvpackError.malformedFile(path: fileName, reason: "two installed distributions name this wheel with different sha256 hashes (\(sha), \(wheel.sha256)); cannot bundle both")
                }
                continue
            }
            let candidates = sources(of: wheel, fileName: fileName, pkgsDirs: pkgsDirs)
            let target = folder + "/" + fileName
            var differing: [String] = []
            var found = false
            for source in candidates {
                var info = stat()
                guard stat(source, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
                let sha = try copyHashing(source, to: target)
                if sha == wheel.sha256 { found = true; break }
                unlink(target)
                differing.append("\(source) has sha256 \(sha)")
            }
            guard found else {
                if !differing.isEmpty {
                    throw EnvpackError.malformedFile(path: fileName, reason: "wheel of \(label) changed since it was installed: \(differing.joined(separator: "; ")), not \(wheel.sha256); cannot bundle it")
                }
                throw EnvpackError.unreadable(path: fileName, reason: "wheel of \(label) not found (looked in: \(candidates.joined(separator: ", "))); put it in a package cache (--pkgs-dir) to bundle it")
            }
            copied[fileName] = wheel.sha256
            lines.append("# pip \(wheel.name) @ wheels/\(fileName)#sha256=\(wheel.sha256)")
        }
        return lines
    }

    /// The wheel's file name from its URL: a valid wheel name of plain
    /// characters only (it becomes a path in the bundle and a spec line).
    static func fileName(of url: String) -> String? {
        guard let name = URL(string: url)?.lastPathComponent, name.utf8.count <= 255, !name.hasPrefix("."), WheelFileName(name) != nil,
              name.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._+-!".unicodeScalars.contains($0)) })
        else { return nil }
        return name
    }

    /// Where the wheel may still be, in order: its own file:// URL, then each cache.
    static func sources(of wheel: ExportedWheel, fileName: String, pkgsDirs: [String]) -> [String] {
        var paths: [String] = []
        if let url = URL(string: wheel.url), url.isFileURL, !url.path.isEmpty { paths.append(url.path) }
        for dir in pkgsDirs {
            paths.append(dir + "/" + fileName)
            paths.append(dir + "/.envpack/" + wheel.sha256 + "/" + fileName)
        }
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    /// Copies `source` to the new file `target`, returning the sha256 of
    /// the bytes written; every read, write and close is checked.
    static func copyHashing(_ source: String, to target: String) throws -> String {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw EnvpackError.unreadable(path: source, reason: errnoMessage()) }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
        var sha = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = read(input, buffer.baseAddress, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EnvpackError.unreadable(path: source, reason: errnoMessage())
                }
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                sha.update(bufferPointer: chunk)
                try writeAll(fd: output, chunk, displayPath: target)
            }
        } catch {
            close(output)
            unlink(target)
            throw error
        }
        guard close(output) == 0 else {
            let why = errnoMessage()
            unlink(target)
            throw EnvpackError.writeFailed(path: target, reason: why)
        }
        return hexString(sha.finalize())
    }
}
