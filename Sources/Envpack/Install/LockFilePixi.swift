// pixi.lock (rattler_lock, versions 4 to 7): `environments: NAME: packages:
// PLATFORM:` lists selectors (`conda: LOCATION` or `pypi: LOCATION`) into the
// top-level `packages:` list, whose conda entries carry sha256/md5 and
// `depends` match specs. Versions 4 and 5 spell entries `kind: conda|pypi`
// with `url:`/`path:`; 6 and 7 key them by `conda:`/`pypi:`. A location is a
// URL or a path relative to the lock file. PyPI wheels (`pypi:` with the
// entry's sha256) are installed after the conda packages; source packages (a
// conda location that is not an archive, `conda_source`, a PyPI location that
// is not a wheel) are refused, named.
import Foundation
import Yams

enum PixiLockFile {
    static func spec(root: Node, path: String, baseDirectory: String, selection: LockSelection) throws -> ExplicitSpec {
        func bad(_ line: Int, _ why: String) -> EnvpackError { LockYAML.error(path, line, why) }
        guard let versionText = LockYAML.string(root, "version"), let version = Int(versionText), (4...7).contains(version) else {
            throw bad(LockYAML.line(root), "pixi.lock version \(LockYAML.string(root, "version")?.prefix(20) ?? "(none)") is not supported (4 to 7 are)")
        }
        guard let environmentsNode = LockYAML.value(root, "environments"), let environments = environmentsNode.mapping else {
            throw bad(0, "no environments: mapping (a pixi.lock has one)")
        }
        guard let environment = LockYAML.value(environmentsNode, selection.environment) else {
            let names = environments.keys.compactMap { $0.string }.prefix(50).joined(separator: ", ")
            throw bad(0, "no environment '\(selection.environment.prefix(100))' (it has \(names.isEmpty ? "none" : names)); choose one with -e/--environment")
        }
        guard let perPlatformNode = LockYAML.value(environment, "packages"), let perPlatform = perPlatformNode.mapping else {
            throw bad(LockYAML.line(environment), "environment '\(selection.environment)' has no packages: mapping")
        }
        let platform = selection.resolvedPlatform
        guard let selectors = LockYAML.value(perPlatformNode, platform)?.sequence else {
            let has = perPlatform.keys.compactMap { $0.string }.prefix(50).joined(separator: ", ")
            throw bad(0, "environment '\(selection.environment)' has no packages for \(platform) (it has \(has.isEmpty ? "none" : has)); use --platform to choose one")
        }
        guard let packages = LockYAML.value(root, "packages")?.sequence else { throw bad(0, "no packages: list (a pixi.lock has one)") }
        guard packages.count <= LockFileKind.maxEntries, selectors.count <= LockFileKind.maxEntries else {
            throw bad(0, "lists more than \(LockFileKind.maxEntries) packages")
        }

        // Conda packages by location; several may share one (source variants).
        var condaByLocation: [String: [Node]] = [:]
        var pypiByLocation: [String: Node] = [:]
        var wheels: [WheelEntry] = []
        for package in packages {
            guard let fields = package.mapping, fields.count <= LockYAML.maxKeys else {
                throw bad(LockYAML.line(package), "a package entry is not a mapping of at most \(LockYAML.maxKeys) fields")
            }
            if let location = condaLocation(package, version: version) { condaByLocation[location, default: []].append(package) }
            if let location = pypiLocation(package) { pypiByLocation[location] = pypiByLocation[location] ?? package }
        }

        var locked: [LockedConda] = []
        var dependencyCount = 0
        var seen = Set<String>()
        for selector in selectors {
            let line = LockYAML.line(selector)
            guard let fields = selector.mapping, fields.count <= LockYAML.maxKeys else {
                throw bad(line, "an entry of environment '\(selection.environment)' is not a mapping of at most \(LockYAML.maxKeys) fields")
            }
            if let source = LockYAML.string(selector, "conda_source") {
                throw bad(line, "'\(source.prefix(200))' is a conda source package (built from source by pixi); envpack installs only built packages")
            }
            if let pypi = LockYAML.string(selector, "pypi") {
                let isWheel = (pypi.split(separator: "#").first.map(String.init) ?? pypi).lowercased().hasSuffix(".whl")
                guard isWheel else {
                    throw bad(line, "'\(pypi.prefix(200))' is a PyPI source package (not a wheel): it needs a build, which envpack does not do")
                }
                guard seen.insert(pypi).inserted else { continue }
                guard let package = pypiByLocation[pypi] else { throw bad(line, "'\(pypi.prefix(200))' is not among the lock file's packages") }
                let packageLine = LockYAML.line(package)
                let name = LockYAML.string(package, "name") ?? WheelFileName((pypi as NSString).lastPathComponent)?.distribution ?? "?"
                func fail(_ why: String) -> EnvpackError { bad(packageLine, why) }
                let sha256 = try LockYAML.digest(package, "sha256", count: 64) { fail("PyPI package '\(name.prefix(100))': \($0)") }
                let resolved = try LockYAML.expandVariables(pypi) { fail("PyPI package '\(name.prefix(100))': \($0)") }
                wheels.append(try WheelEntry.make(name: name, version: LockYAML.string(package, "version"), written: pypi, resolved: resolved,
                                                  sha256: sha256, line: packageLine, baseDirectory: baseDirectory, fail: fail))
                continue
            }
            guard let location = LockYAML.string(selector, "conda"), !location.isEmpty else {
                throw bad(line, "environment '\(selection.environment)' has an entry that is neither conda: nor pypi:")
            }
            guard seen.insert(location).inserted else { continue }
            let candidates = condaByLocation[location] ?? []
            let subdirOf = { (node: Node) in LockYAML.string(node, "subdir") ?? (location.split(separator: "/").dropLast().last.map(String.init) ?? "") }
            guard let package = candidates.first(where: { [platform, "noarch"].contains(subdirOf($0)) }) ?? candidates.first else {
                throw bad(line, "'\(location.prefix(200))' is not among the lock file's packages")
            }
            let fileName = location.split(separator: "/").last.map(String.init) ?? location
            guard fileName.hasSuffix(".conda") || fileName.hasSuffix(".tar.bz2") else {
                throw bad(LockYAML.line(package), "'\(location.prefix(200))' is a conda source package (built from source by pixi); envpack installs only built packages")
            }
            let packageLine = LockYAML.line(package)
            let name = LockYAML.string(package, "name") ?? nameFromFile(fileName)
            func fail(_ why: String) -> EnvpackError { bad(packageLine, "package '\(name.prefix(100))': \(why)") }
            let md5 = try LockYAML.digest(package, "md5", count: 32, fail: fail)
            let sha256 = try LockYAML.digest(package, "sha256", count: 64, fail: fail)
            let resolved = try LockYAML.expandVariables(location, fail: fail)
            var entry = try ExplicitSpec.makeEntry(location: resolved, md5: md5, sha256: sha256, line: packageLine,
                                                   baseDirectory: baseDirectory, fail: fail)
            entry.location = location
            var dependencies: [String] = []
            if let depends = LockYAML.value(package, "depends")?.sequence {
                guard depends.count <= 10_000 else { throw fail("lists \(depends.count) dependencies") }
                dependencies = depends.compactMap { $0.string.map(LockYAML.specName) }
            }
            dependencyCount += dependencies.count
            guard dependencyCount <= LockYAML.maxDependencies else { throw fail("the lock file lists more than \(LockYAML.maxDependencies) dependencies in all") }
            locked.append(LockedConda(name: name.lowercased(), entry: entry, dependencies: dependencies))
        }
        guard !locked.isEmpty else {
            throw bad(0, "environment '\(selection.environment)' has no conda packages for \(platform)")
        }
        return ExplicitSpec(platform: platform, entries: LockOrder.dependenciesFirst(locked).map(\.entry), wheels: wheels)
    }

    /// Where a `packages:` entry points, if it is a conda package.
    static func condaLocation(_ package: Node, version: Int) -> String? {
        if let kind = LockYAML.string(package, "kind") {
            guard kind == "conda" else { return nil }
            return LockYAML.string(package, "url") ?? LockYAML.string(package, "path")
        }
        return LockYAML.string(package, "conda")
    }

    /// Where a `packages:` entry points, if it is a PyPI package.
    static func pypiLocation(_ package: Node) -> String? {
        if let kind = LockYAML.string(package, "kind") {
            guard kind == "pypi" else { return nil }
            return LockYAML.string(package, "url") ?? LockYAML.string(package, "path")
        }
        return LockYAML.string(package, "pypi")
    }

    /// `name` from `name-version-build.conda`.
    static func nameFromFile(_ fileName: String) -> String {
        var stem = fileName
        for ext in [".conda", ".tar.bz2"] where stem.hasSuffix(ext) { stem.removeLast(ext.count) }
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count >= 3 ? parts.dropLast(2).joined(separator: "-") : stem
    }
}
