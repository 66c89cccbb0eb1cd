// bin/envpack-unpack: the static helper every envpack archive carries. It
// runs from the extracted environment with no python and no envpack, using
// only the Foundation-free relocation module.
import EnvpackRelocation
#if canImport(Glibc)
import Glibc
#endif

let version = "0.1.0"

func fail(_ message: String, code: Int32 = 1) -> Never {
    let line = Array("envpack-unpack: error: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

/// The environment root: two levels above the helper's real location
/// (`<prefix>/bin/envpack-unpack`).
func environmentRoot() -> String {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = buffer.withUnsafeMutableBufferPointer { $0.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, $0.count - 1) } }
    guard n > 0 else { fail("cannot read /proc/self/exe") }
    var path = String(decoding: buffer[0..<n], as: UTF8.self)
    for _ in 0..<2 {
        guard let slash = path.lastIndex(of: "/") else { fail("unexpected helper location \(path)") }
        path = String(path[..<slash])
    }
    return path.isEmpty ? "/" : path
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print("""
    usage: envpack-unpack [--manifest]

    Run from an unpacked envpack archive (bin/envpack-unpack, also bin/conda-unpack).
      --manifest   print a summary of the environment's prefix manifest
      --version    print the version
    """)
    exit(0)
}
if arguments.contains("--version") { print("envpack-unpack \(version)"); exit(0) }

let root = environmentRoot()
let manifestPath = root + "/" + Manifest.relativePath
let manifest: Manifest
do {
    let bytes = try readWholeFile(manifestPath)
    manifest = try Manifest(parsing: String(decoding: bytes, as: UTF8.self))
} catch {
    fail("\(manifestPath): \(error)")
}

if arguments.contains("--manifest") {
    print("environment: \(root)")
    print("packed from: \(manifest.prefix)")
    print("packages: \(manifest.packages.count)")
    print("prefix-bearing files: \(manifest.files.count)")
    if let limit = manifest.longestAllowedPrefix { print("longest allowed prefix: \(limit)") }
    exit(0)
}
fail("relocation is not implemented in envpack-unpack \(version); this archive was packed from \(manifest.prefix)", code: 2)
