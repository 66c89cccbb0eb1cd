// What pack verifies about one file conda installed, on the same single read
// that feeds the archive. The rules, from the record's (or the package
// cache's) description of the file:
//
// - compiled python files (`*.pyc`): never checked; python rewrites them;
// - a text file with a prefix placeholder: its sha256 once every occurrence
//   of the prefix it holds is put back to the placeholder must be the
//   package's `sha256` (or its raw sha256 the record's `sha256_in_prefix`):
//   this holds after any number of moves;
// - a binary file with a placeholder: its size must be the package's
//   (binary patching and RPATH rewrites keep the size); its bytes are not;
// - any other file: its sha256 must be `sha256_in_prefix`, else `sha256`.
//   A file that holds the prefix although its record names no placeholder
//   was written for this environment after install (or the record gives no
//   placeholder data, as rattler's and micromamba's do): a binary one is
//   checked by size, a text one not at all. So is a binary file whose
//   record's sha256_in_prefix differs from sha256 (conda patched it; an
//   RPATH envpack rewrote to $ORIGIN leaves no prefix in it).
// What a record does not describe (no hash, no size) is checked for
// presence only.
import Crypto
import EnvpackRelocation

struct FileCheck {
    var rawHash: String?
    /// The package's hash with the placeholder in place of the prefix.
    var placeholderHash: String?
    var placeholder: String?
    /// The expected size, for binary files.
    var size: Int?
    /// For a file without placeholder: whether holding the prefix excuses a
    /// hash difference (checked by size when binary).
    var sizeWhenHoldingPrefix: Int?
    var hasPlaceholder: Bool
    /// The record's sha256_in_prefix differs from the package's sha256:
    /// conda patched the file although the record names no placeholder
    /// (real conda records do this), so a binary one is checked by size.
    var patchedAtInstall = false

    /// For a text file known only by sha256_in_prefix: hash it with the
    /// current prefix replaced by each earlier prefix of the environment.
    var needsInstallPrefixHash: Bool { hasPlaceholder && placeholderHash == nil && rawHash != nil }

    static func isCompiledPython(_ path: String) -> Bool { path.hasSuffix(".pyc") }

    /// The expectation for a managed regular file, or nil when nothing
    /// beyond its presence can be checked.
    static func expectation(path: String, managed m: CondaEnvironment.ManagedPath) -> FileCheck? {
        if isCompiledPython(path) || m.entry.pathType == .pycFile { return nil }
        let e = m.entry
        if let placeholder = e.prefixPlaceholder {
            if e.fileMode == .binary {
                guard let size = e.sizeInBytes else { return nil }
                return FileCheck(size: size, hasPlaceholder: true)
            }
            // Without the package's hash (old packages describe themselves
            // with info/files and has_prefix only) sha256_in_prefix is all
            // there is: it holds for the prefix of the install, which
            // Packer tries in place of the current one (installPrefixHash).
            guard e.sha256InPrefix != nil || e.sha256 != nil else { return nil }
            return FileCheck(rawHash: e.sha256InPrefix, placeholderHash: e.sha256, placeholder: placeholder,
                             hasPlaceholder: true)
        }
        guard let hash = e.sha256InPrefix ?? e.sha256 else { return nil }
        var check = FileCheck(rawHash: hash, sizeWhenHoldingPrefix: e.sizeInBytes, hasPlaceholder: false)
        if let a = e.sha256InPrefix, let b = e.sha256, a.lowercased() != b.lowercased() { check.patchedAtInstall = true }
        return check
    }

    /// Whether a size alone already shows a change (before anything is read).
    func sizeDiffers(_ size: Int) -> Bool {
        if let expected = self.size { return expected != size }
        return false
    }

    /// Whether the file is unchanged, from what the read found.
    func unchanged(size: Int, rawDigest: String?, replacedDigest: String?, installPrefixDigests: [String] = [],
                   holdsPrefix: Bool, isBinary: Bool) -> Bool {
        if let expected = self.size, rawHash == nil, placeholderHash == nil { return expected == size }
        if hasPlaceholder {
            if let r = rawHash, rawDigest == r.lowercased() { return true }
            if let p = placeholderHash, replacedDigest == p.lowercased() { return true }
            if let r = rawHash, installPrefixDigests.contains(r.lowercased()) { return true }
            return false
        }
        if let r = rawHash, rawDigest == r.lowercased() { return true }
        if holdsPrefix {
            if isBinary, let s = sizeWhenHoldingPrefix { return s == size }
            return true
        }
        if patchedAtInstall && isBinary, let s = sizeWhenHoldingPrefix { return s == size }
        return rawHash == nil
    }
}

/// SHA-256 of a stream with every occurrence of `needle` replaced by
/// `replacement`, computed chunk by chunk (occurrences may straddle chunks).
struct ReplacingHasher {
    let needle: [UInt8]
    let replacement: [UInt8]
    private var hasher = SHA256()
    private var pending: [UInt8] = []

    init(needle: String, replacement: String) {
        self.needle = Array(needle.utf8)
        self.replacement = Array(replacement.utf8)
    }

    mutating func update(_ chunk: UnsafeRawBufferPointer) {
        guard !needle.isEmpty else { hasher.update(bufferPointer: chunk); return }
        var data = pending
        data.append(contentsOf: chunk)
        var start = 0
        data.withUnsafeBytes { buf in
            for o in occurrences(of: needle, in: buf) {
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buf[start..<o]))
                hasher.update(data: replacement)
                start = o + needle.count
            }
            // The last needle-1 bytes may begin an occurrence: keep them.
            let keepFrom = max(start, buf.count - (needle.count - 1))
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buf[start..<keepFrom]))
            start = keepFrom
        }
        pending = Array(data[start...])
    }

    mutating func finalize() -> String {
        hasher.update(data: pending)
        pending = []
        return hexString(hasher.finalize())
    }
}
