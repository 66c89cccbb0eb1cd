// Envpack's side of the owned-folder protocol, which lives in
// EnvpackExtract/OwnedFolder.swift so the static helper stages the same
// way: taking a folder and noting in its lock file, with failures as
// EnvpackError.
import EnvpackExtract

extension OwnedFolder {
    /// A new owned folder of `kind` in `parent` (see OwnedFolder.init).
    static func take(in parent: String, kind: String, create: Bool = true, note: String? = nil) throws -> OwnedFolder {
        try asEnvpackError { try OwnedFolder(in: parent, kind: kind, create: create, note: note) }
    }

    /// Replaces the lock file's text (see OwnedFolder.note).
    func record(_ text: String) throws {
        try asEnvpackError { try note(text) }
    }
}
