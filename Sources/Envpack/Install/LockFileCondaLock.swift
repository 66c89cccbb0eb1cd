// conda-lock's unified lock file (conda-lock.yml, `version: 1`, and the older
// files without `version:`): a `package:` list whose entries carry name,
// version, manager (conda | pip), platform, url, hash {md5, sha256},
// category, optional and dependencies {name: spec}. The entries for one
// platform and the chosen categories become spec entries, dependencies first;
// the pip ones become wheels, installed after them in the file's order.
import Foundation
import Yams

enum CondaLockFile {
    static func spec(root: Node, path: String, baseDirectory: String, selection: LockSelection) throws -> ExplicitSpec {
        func bad(_ line: Int, _ why: String) -> EnvpackError { LockYAML.error(path, line, why) }
        if let version = LockYAML.string(root, "version"), version != "1" {
            throw bad(LockYAML.line(root), "conda-lock file version \(version.prefix(20)) is not supported (version 1 and the older files without a version are)")
        }
        guard let packages = LockYAML.value(root, "package")?.sequence else { throw bad(0, "no package: list (a conda-lock file has one)") }
        guard packages.count <= LockFileKind.maxEntries else {
            throw bad(0, "lists \(packages.count) packages, more than \(LockFileKind.maxEntries)")
        }
        let platform = selection.resolvedPlatform
        var platforms = Set<String>()
        var locked: [LockedConda] = []
        var dependencyCount = 0
        var seenURL = Set<String>()
        var wheels: [WheelEntry] = []
        for package in packages {
            let line = LockYAML.line(package)
            guard let fields = package.mapping, fields.count <= LockYAML.maxKeys else { throw bad(line, "a package entry is not a mapping of at most \(LockYAML.maxKeys) fields") }
            let name = LockYAML.string(package, "name") ?? ""
            func fail(_ why: String) -> EnvpackError { bad(line, "package '\(name.prefix(100))': \(why)") }
            guard !name.isEmpty, name.utf8.count <= 255 else { throw bad(line, "a package entry has no name") }
            guard let entryPlatform = LockYAML.string(package, "platform") else { throw fail("no platform") }
            platforms.insert(entryPlatform)
            guard entryPlatform == platform else { continue }
            // Categories: `category` (version 1) or `categories` (newer writers).
            var categories: [String] = []
            if let c = LockYAML.string(package, "category") { categories.append(c) }
            if let list = LockYAML.value(package, "categories")?.sequence { categories += list.prefix(1000).compactMap { $0.string } }
            if categories.isEmpty { categories = ["main"] }
            let optional = LockYAML.string(package, "optional").map { ["true", "yes"].contains($0.lowercased()) } ?? false
            let wanted = selection.withOptional || categories.contains("main") && !optional
                || categories.contains { selection.categories.contains($0) }
            guard wanted else { continue }
            guard let rawURL = LockYAML.string(package, "url"), !rawURL.isEmpty else { throw fail("no url") }
            let manager = LockYAML.string(package, "manager") ?? "conda"
            guard manager == "conda" || manager == "pip" else { throw fail("unknown manager '\(manager.prefix(40))' (conda or pip)") }
            let url = try LockYAML.expandVariables(rawURL, fail: fail)
            let hash = LockYAML.value(package, "hash") ?? Node("")
            let md5 = try LockYAML.digest(hash, "md5", count: 32, fail: fail)
            let sha256 = try LockYAML.digest(hash, "sha256", count: 64, fail: fail)
            if manager == "pip" {
                // Installed after the conda packages, in the file's order.
                guard seenURL.insert(url).inserted else { continue }
                wheels.append(try WheelEntry.make(name: name, version: LockYAML.string(package, "version"), written: rawURL,
                                                  resolved: url, sha256: sha256, line: line, baseDirectory: baseDirectory, fail: fail))
                continue
            }
            // A package in two categories is listed twice: install it once.
            guard seenURL.insert(url).inserted else { continue }
            var entry = try ExplicitSpec.makeEntry(location: url, md5: md5, sha256: sha256, line: line,
                                                   baseDirectory: baseDirectory, fail: fail)
            entry.location = rawURL  // as written: no credentials from ${VAR} in messages
            var dependencies: [String] = []
            if let deps = LockYAML.value(package, "dependencies")?.mapping {
                guard deps.count <= 10_000 else { throw fail("lists \(deps.count) dependencies") }
                dependencies = deps.keys.compactMap { $0.string?.lowercased() }
            }
            dependencyCount += dependencies.count
            guard dependencyCount <= LockYAML.maxDependencies else { throw fail("the lock file lists more than \(LockYAML.maxDependencies) dependencies in all") }
            locked.append(LockedConda(name: name.lowercased(), entry: entry, dependencies: dependencies))
        }
        guard !locked.isEmpty else {
            let has = String(platforms.sorted().joined(separator: ", ").prefix(300))
            throw bad(0, platforms.contains(platform)
                ? "no conda packages for \(platform) in the chosen categories (main\(selection.categories.map { ", " + $0 }.joined()))"
                : "no packages for \(platform) (it has \(has.isEmpty ? "none" : has)); use --platform to choose one")
        }
        return ExplicitSpec(platform: platform, entries: LockOrder.dependenciesFirst(locked).map(\.entry), wheels: wheels)
    }
}
