// What `envpack unpack` and the helper check in a freshly extracted tree
// before relocating it, and how they remove a tree they made, without
// Foundation.
//
// The manifest is looked for at the archive's top and below its one top
// folder (--arcroot), with lstat, never through a symlink: a symlink on the
// way to the manifest, or a manifest that is a symlink or not a regular
// file, is refused naming the entry (the relocation would otherwise work on
// what it points to, outside DEST); so is a relocation journal, the mark of
// a half-relocated environment (pack refuses those) or a crafted archive,
// whose journal would steer the relocation.
import EnvpackRelocation
#if canImport(Glibc)
import Glibc
#endif

public enum ExtractedTree {
    public enum Kind { case regular, directory, symlink, other }

    /// The kind of `path` by lstat, nil when it is not there.
    public static func kind(_ path: String) -> Kind? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// The names in a folder, "." and ".." left out (nil: unreadable).
    public static func names(in folder: String) -> [String]? {
        guard let dir = opendir(folder) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The environment inside an extracted tree: "" when the manifest is
    /// at the top, the one top folder's name when it is there (--arcroot),
    /// nil when there is none.
    public static func environmentFolder(in staging: String) -> String? {
        func hasManifest(_ dir: String) -> Bool { kind(dir + "/" + Manifest.relativePath) == .regular }
        if hasManifest(staging) { return "" }
        let items = names(in: staging) ?? []
        if items.count == 1, kind(staging + "/" + items[0]) == .directory, hasManifest(staging + "/" + items[0]) {
            return items[0]
        }
        return nil
    }

    /// See the file's opening comment.
    public static func refuseLinkedManifestOrJournal(in staging: String, archive: String) throws(ExtractError) {
        func refuse(_ entry: String, _ why: String) -> ExtractError {
            .archive(path: archive, reason: "refusing entry \(entry): \(why)")
        }
        var roots = [""]
        let items = names(in: staging) ?? []
        if items.count == 1 { roots.append(items[0]) }
        for root in roots {
            let manifest = root.isEmpty ? Manifest.relativePath : root + "/" + Manifest.relativePath
            let parts = manifest.split(separator: "/").map(String.init)
            var walked = ""
            walk: for (i, part) in parts.enumerated() {
                walked = walked.isEmpty ? part : walked + "/" + part
                guard let found = kind(staging + "/" + walked) else { break walk }
                let last = i == parts.count - 1
                switch (found, last) {
                case (.directory, false), (.regular, true): continue
                case (.symlink, false): throw refuse(walked, "a symlink on the way to the manifest (\(manifest))")
                case (.symlink, true): throw refuse(walked, "the manifest is a symlink, not a regular file")
                case (_, true): throw refuse(walked, "the manifest is not a regular file")
                case (_, false): break walk
                }
            }
            // Its folders were just seen not to be symlinks (or it is not there).
            let journal = root.isEmpty ? Journal.relativePath : root + "/" + Journal.relativePath
            if kind(staging + "/" + journal) != nil {
                throw refuse(journal, "the archive holds a relocation journal: it was packed from a half-relocated environment, or crafted; finish the relocation there (envpack relocate) and pack it again")
            }
        }
    }

    /// Removes `path` and everything below it, never following a symlink;
    /// folders are made writable first (an archive may list read-only
    /// ones). True when nothing is left.
    @discardableResult
    public static func remove(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return errno == ENOENT }
        if st.st_mode & S_IFMT == S_IFDIR {
            _ = chmod(path, 0o700)
            for name in names(in: path) ?? [] { _ = remove(path + "/" + name) }
            return rmdir(path) == 0
        }
        return unlink(path) == 0
    }
}
