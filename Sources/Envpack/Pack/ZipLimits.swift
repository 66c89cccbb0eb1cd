// conda-pack's `--no-zip-64`: a zip for readers without ZIP64 support. Such
// a zip holds at most 65535 entries, no file of 4 GiB or more, and no data
// beyond 4 GiB. libarchive adds ZIP64 records only when a limit is crossed,
// so checking the limits before any output is what the option needs: an
// environment that would cross one is refused, named, instead of written
// as a zip those readers cannot open.
enum ZipLimits {
    static let maxEntries = 65535
    static let maxBytes = Int(UInt32.max)

    static func check(_ tree: [TreeEntry], extraEntries: Int) throws {
        let entries = tree.count + extraEntries
        if entries > maxEntries {
            throw EnvpackError.invalidOption("--no-zip-64: the zip would hold \(entries) entries; without ZIP64 a zip holds at most \(maxEntries) (drop --no-zip-64, or leave files out with --exclude)")
        }
        let files = tree.filter { $0.status.kind == .regular }
        if let big = files.first(where: { $0.status.size >= maxBytes }) {
            throw EnvpackError.invalidOption("--no-zip-64: \(big.path) is \(big.status.size) bytes; without ZIP64 a zip cannot hold a file of 4 GiB or more (drop --no-zip-64)")
        }
        let total = files.reduce(0) { $0 + $1.status.size }
        if total >= maxBytes {
            throw EnvpackError.invalidOption("--no-zip-64: the environment holds \(total) bytes of file data; a zip without ZIP64 cannot reach past 4 GiB (drop --no-zip-64)")
        }
    }
}
