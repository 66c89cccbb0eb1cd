// Every failure a user can cause, as one line that names the file or entry.
import Foundation

public enum EnvpackError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case prefixMissing(String)
    case notACondaEnvironment(String)
    case environmentNotFound(name: String, searched: [String])
    case malformedFile(path: String, reason: String)
    case unreadable(path: String, reason: String)
    case missingFiles([String])
    case changedFiles([String])
    case editablePackages([String])
    case multiplePythons([String])
    case outputExists(String)
    case outputDirectoryMissing(String)
    case outputIsTerminal
    case writeFailed(path: String, reason: String)
    case archive(path: String, reason: String)
    case unsupportedFormat(String)
    case invalidOption(String)
    case helperNotFound(searched: [String])
    case nonUTF8Name(String)

    public var description: String {
        switch self {
        case .prefixMissing(let p):
            return "environment prefix \(p) does not exist"
        case .notACondaEnvironment(let p):
            return "\(p) is not a conda environment (no conda-meta/ folder)"
        case .environmentNotFound(let name, let searched):
            return "no conda environment named '\(name)' (looked in: \(searched.joined(separator: ", ")))"
        case .malformedFile(let path, let reason):
            return "\(path): \(reason)"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .missingFiles(let items):
            return "files managed by conda are missing (use --ignore-missing-files to pack anyway): " + summarize(items)
        case .changedFiles(let items):
            return "files managed by conda were changed since they were installed (use --ignore-changed-files to pack anyway): " + summarize(items)
        case .editablePackages(let items):
            return "editable (development) installs point outside the environment and would not work after moving it (use --ignore-editable-packages to pack anyway): " + summarize(items)
        case .multiplePythons(let items):
            return "the environment holds more than one python: " + items.joined(separator: ", ")
        case .outputExists(let p):
            return "\(p) already exists (use --force to overwrite)"
        case .outputDirectoryMissing(let p):
            return "output directory \(p) does not exist"
        case .outputIsTerminal:
            return "refusing to write an archive to a terminal (redirect standard output or use -o FILE)"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .archive(let path, let reason):
            return "\(path): \(reason)"
        case .unsupportedFormat(let f):
            return "unknown archive format '\(f)' (expected infer, tar.zst, tar.gz, tgz, tar.bz2, tbz2, tar.xz, txz, tar or zip)"
        case .invalidOption(let message):
            return message
        case .helperNotFound(let searched):
            return "the static unpack helper envpack-unpack was not found (run scripts/build-helper.sh or set ENVPACK_HELPER); looked in: " + searched.joined(separator: ", ")
        case .nonUTF8Name(let p):
            return "\(p): file name is not valid UTF-8; envpack cannot record it"
        }
    }

    public var errorDescription: String? { description }
}

/// Lists up to ten items, then says how many more there are.
private func summarize(_ items: [String]) -> String {
    let shown = items.prefix(10).joined(separator: ", ")
    return items.count > 10 ? "\(shown) (and \(items.count - 10) more)" : shown
}
