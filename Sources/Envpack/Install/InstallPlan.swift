// Everything an install will do, computed before anything is written: where
// each path of each package lands (noarch python mapping), which paths two
// packages both write (the later one in spec order wins, as in conda, and
// it is reported), and the prefix edits of every file with a placeholder, so
// that a target prefix too long for a binary placeholder stops the install
// before linking starts.
import EnvpackRelocation
import Foundation

struct PlannedPackage {
    var fetched: FetchedPackage
    var contents: PackageContents
    /// Installed path of each entry of `contents.paths`, in order.
    var destinations: [String]
    /// Placeholder edits, by the entry's index.
    var edits: [Int: [Edit]]
    var entryPoints: [EntryPoint]
    var channel: String

    var distName: String { "\(contents.name)-\(contents.version)-\(contents.build)" }
    var isNoarchPython: Bool { contents.isNoarchPython }
    /// Every installed path (entry points included).
    var files: [String] { destinations + entryPoints.map { "bin/" + $0.command } }
}

struct InstallPlan {
    var prefix: String
    var packages: [PlannedPackage]
    var pythonVersion: String?
    var clobbered: [String]
    var linkScripts: [String]
    /// Installed path -> the package that wrote it last (wheels go after).
    var owner: [String: String] = [:]

    static func make(packages: [(FetchedPackage, PackageContents)], prefix: String) throws -> InstallPlan {
        let python = packages.first { $0.1.name == "python" }.map { majorMinor($0.1.version) }
        var owner: [String: String] = [:]
        var clobbered: [String] = []
        var planned: [PlannedPackage] = []
        var problems: [String] = []
        var linkScripts: [String] = []

        for (fetched, contents) in packages {
            // name, version and build make the record's file name in conda-meta/.
            for (field, value) in [("name", contents.name), ("version", contents.version), ("build", contents.build)] {
                guard isPlainName(value) else {
                    throw EnvpackError.malformedFile(path: fetched.archivePath,
                                                     reason: "info/index.json \(field) '\(value)' is not a plain name; refusing the package")
                }
            }
            let dist = "\(contents.name)-\(contents.version)-\(contents.build)"
            if contents.isNoarchPython && python == nil {
                throw EnvpackError.invalidOption("\(dist) is a noarch: python package, but the spec has no python")
            }
            var destinations: [String] = []
            var edits: [Int: [Edit]] = [:]
            for (i, entry) in contents.paths.enumerated() {
                let dest = contents.isNoarchPython ? noarchPythonPath(entry.path, pythonVersion: python) : entry.path
                let parts = dest.split(separator: "/", omittingEmptySubsequences: false)
                guard !dest.hasPrefix("/"), !dest.isEmpty, !parts.contains(".."), !dest.utf8.contains(0) else {
                    throw EnvpackError.malformedFile(path: fetched.archivePath, reason: "\(dist): path \(entry.path) leaves the prefix")
                }
                // conda-meta/ holds the records envpack writes; no package file goes there.
                guard parts.first != "conda-meta" else {
                    throw EnvpackError.malformedFile(path: fetched.archivePath, reason: "\(dist): path \(entry.path) is inside conda-meta/")
                }
                destinations.append(dest)
                if entry.pathType != .directory {
                    if let previous = owner[dest], previous != dist { clobbered.append("\(dest): \(previous) -> \(dist)") }
                    owner[dest] = dist
                }
                guard let placeholder = entry.prefixPlaceholder, entry.pathType == .hardlink else { continue }
                switch planPlaceholder(entry, placeholder: placeholder, source: contents.directory + "/" + entry.path,
                                       destination: dest, prefix: prefix) {
                case .success(let planned): if let planned { edits[i] = planned }
                case .failure(let failure): problems.append("\(dist): \(entry.path): \(failure.description)")
                }
            }
            let entryPoints = contents.entryPoints.compactMap(EntryPoint.init)
            for ep in entryPoints where !isPlainName(ep.command) {
                throw EnvpackError.malformedFile(path: fetched.archivePath,
                                                 reason: "\(dist): entry point '\(ep.command)' is not a plain command name (bin/\(ep.command) would leave bin/)")
            }
            for ep in entryPoints {
                let dest = "bin/" + ep.command
                if let previous = owner[dest], previous != dist { clobbered.append("\(dest): \(previous) -> \(dist)") }
                owner[dest] = dist
            }
            linkScripts += contents.linkScripts.map { "\(dist): \($0)" }
            planned.append(PlannedPackage(fetched: fetched, contents: contents, destinations: destinations, edits: edits,
                                          entryPoints: entryPoints, channel: channelName(of: fetched.entry)))
        }
        if !problems.isEmpty {
            throw EnvpackError.invalidOption("cannot install into \(prefix) (\(prefix.utf8.count) bytes), nothing was written: "
                + problems.prefix(8).joined(separator: "; ") + (problems.count > 8 ? "; and \(problems.count - 8) more" : ""))
        }
        return InstallPlan(prefix: prefix, packages: planned, pythonVersion: python, clobbered: clobbered, linkScripts: linkScripts,
                           owner: owner)
    }

    /// One file name: not empty, no `/` or NUL, not `.` or `..`, at most 200 bytes.
    static func isPlainName(_ text: String) -> Bool {
        !text.isEmpty && text != "." && text != ".." && !text.contains("/") && !text.utf8.contains(0)
            && text.utf8.count <= 200 && !text.contains("\n")
    }

    /// The edits that put `prefix` where the package has its placeholder.
    static func planPlaceholder(_ entry: PathEntry, placeholder: String, source: String, destination: String,
                                prefix: String) -> Result<[Edit]?, PlanFailure> {
        var detector = PrefixDetector(prefix: placeholder, placeholder: nil)
        do { try forEachChunk(of: source) { detector.feed($0) } } catch {
            return .failure(.other("missing from the extracted package"))
        }
        let mode: PrefixMode = entry.fileMode == .binary ? .binary : .text
        let found: PrefixFile?
        do { found = try detector.result(path: destination, absolutePath: source, recordMode: mode, isManaged: true) } catch {
            return .failure(.other(error.description))
        }
        guard let file = found else { return .success(nil) }
        do { return .success(try planEdits(for: file, at: source, old: placeholder, to: prefix).edits) } catch {
            return .failure(error)
        }
    }

    /// The channel a record names: conda.anaconda.org/NAME → NAME, else the
    /// URL of the folder above the subdir folder (or of the file's folder).
    static func channelName(of entry: SpecEntry) -> String {
        let url: URL
        switch entry.source {
        case .remote(let u): url = u
        case .local(let path): url = URL(fileURLWithPath: path)
        }
        var folder = url.deletingLastPathComponent()
        let subdirs: Set<String> = ["linux-64", "linux-aarch64", "linux-ppc64le", "osx-64", "osx-arm64", "win-64", "noarch"]
        if subdirs.contains(folder.lastPathComponent) { folder = folder.deletingLastPathComponent() }
        if let host = url.host, host.hasSuffix("anaconda.org"), let first = folder.pathComponents.dropFirst().first {
            return first
        }
        var text = folder.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
