// envpack install from lock files: a conda-lock.yml and a pixi.lock (v6)
// written here for the real 45-package conda-forge set (shuffled, with each
// package's real dependencies, so install order matters), the selection
// rules (platform, categories, optional, pixi environments, ${VAR}), the
// dependency order, and every refusal (source packages, environment.yml,
// another platform; PyPI entries not available offline) leaving nothing at
// PREFIX. Wheels themselves: WheelInstallTests.
import Foundation
import Testing
@testable import Envpack

enum LockFileSupport {
    /// A fixed-seed shuffle (SplitMix64), so a failure can be replayed.
    static func shuffled<T>(_ items: [T], seed: UInt64) -> [T] {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var a = items
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, Int(next() % UInt64(i + 1))) }
        return a
    }

    static func q(_ s: String) -> String { "\"" + s + "\"" }

    static func depends(_ record: [String: Any]) -> [String] { record["depends"] as? [String] ?? [] }

    /// conda-lock.yml text for `records`, locations from `url`.
    static func condaLock(_ records: [[String: Any]], platform: String = "linux-64", version: Bool = true,
                          extra: String = "", url: (String) -> String) -> String {
        var y = version ? "version: 1\n" : ""
        y += "metadata:\n  content_hash:\n    \(platform): abc\n  channels:\n  - url: conda-forge\n    used_env_vars: []\n  platforms:\n  - \(platform)\n  sources:\n  - environment.yml\npackage:\n"
        for r in records {
            let fn = r["fn"] as! String
            y += "- name: \(q(r["name"] as! String))\n  version: \(q(r["version"] as! String))\n  manager: conda\n  platform: \(platform)\n"
            let deps = depends(r)
            if deps.isEmpty { y += "  dependencies: {}\n" } else {
                y += "  dependencies:\n"
                for d in deps {
                    let name = LockYAML.specName(d)
                    let rest = d.trimmingCharacters(in: .whitespaces).dropFirst(name.count).trimmingCharacters(in: .whitespaces)
                    y += "    \(q(name)): \(q(rest.isEmpty ? "*" : rest))\n"
                }
            }
            y += "  url: \(q(url(fn)))\n  hash:\n    md5: \(r["md5"] as! String)\n    sha256: \(r["sha256"] as! String)\n  category: main\n  optional: false\n"
        }
        return y + extra
    }

    /// pixi.lock v6 text for `records`, locations from `location`.
    static func pixiLock(_ records: [[String: Any]], platform: String = "linux-64", location: (String) -> String,
                         extraSelectors: String = "", extraPackages: String = "") -> String {
        var y = "version: 6\nenvironments:\n  default:\n    channels:\n    - url: https://conda.anaconda.org/conda-forge/\n    packages:\n      \(platform):\n"
        for r in records { y += "      - conda: \(q(location(r["fn"] as! String)))\n" }
        y += extraSelectors + "packages:\n"
        for r in records {
            y += "- conda: \(q(location(r["fn"] as! String)))\n  sha256: \(r["sha256"] as! String)\n  md5: \(r["md5"] as! String)\n"
            let deps = depends(r)
            if !deps.isEmpty { y += "  depends:\n" + deps.map { "  - \(q($0))\n" }.joined() }
            y += "  license: BSD\n  size: \(r["size"] as? Int ?? 0)\n"
        }
        return y + extraPackages
    }

    /// True when every package comes after the packages it depends on
    /// (within the set).
    static func dependenciesFirst(_ names: [String], records: [[String: Any]]) -> Bool {
        let byName = Dictionary(uniqueKeysWithValues: records.map { ($0["name"] as! String, $0) })
        var placed = Set<String>()
        for name in names {
            for d in depends(byName[name]!).map(LockYAML.specName) where byName[d] != nil && d != name {
                if !placed.contains(d) { return false }
            }
            placed.insert(name)
        }
        return true
    }

    static func load(_ text: String, dir: String, name: String = "lock.yml", _ configure: (inout LockSelection) -> Void = { _ in }) throws -> ExplicitSpec {
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        var selection = LockSelection()
        configure(&selection)
        return try ExplicitSpec.load(path: dir + "/" + name, selection: selection)
    }

    /// The message `body` fails with ("" and an issue when it does not fail).
    static func failure(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do { try body() } catch { return "\(error)" }
        Issue.record("expected an error", sourceLocation: sourceLocation)
        return ""
    }

    static func names(_ spec: ExplicitSpec) -> [String] {
        spec.entries.map { PixiLockFile.nameFromFile($0.fileName) }
    }

    static func install(_ text: String, dir: String, name: String, prefix: String, extra: [String] = [],
                        environment: [String: String]? = nil) throws -> TestSupport.Result {
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        return try TestSupport.run(TestSupport.envpackBinary,
                                   ["install", "-q", "--file", dir + "/" + name, "-p", prefix, "--pkgs-dir", dir + "/pkgs"] + extra,
                                   environment: environment)
    }
}

@Suite struct LockFileTests {
    typealias S = LockFileSupport

    @Test func condaLockInstallsTheSetAndTheProgramsRun() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("lock-cl")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/env"
        // The URLs take the package folder from ${ENVPACK_TEST_PKGS}.
        let lock = S.condaLock(S.shuffled(records, seed: 12)) { "file://${ENVPACK_TEST_PKGS}/\($0)" }
        var env = ProcessInfo.processInfo.environment
        env["ENVPACK_TEST_PKGS"] = folder
        let r = try S.install(lock, dir: dir, name: "conda-lock.yml", prefix: prefix, environment: env)
        try #require(r.status == 0, "\(r.stderr)")
        try InstallSupport.expectRuns(prefix)
        #expect(try CondaEnvironment.load(prefix: prefix).records.count == 45)
        let openssl = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: prefix + "/conda-meta/openssl-3.4.0-h7b32b05_1.json"))) as! [String: Any]
        #expect(openssl["sha256"] as? String == records.first { $0["name"] as? String == "openssl" }!["sha256"] as? String)
    }

    @Test func pixiLockV6InstallsTheSetFromRelativePaths() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("lock-pixi")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/project", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/project/local-pkgs", withDestinationPath: folder)
        let prefix = dir + "/env"
        let lock = S.pixiLock(S.shuffled(records, seed: 6)) { "local-pkgs/\($0)" }
        let r = try S.install(lock, dir: dir + "/project", name: "pixi.lock", prefix: prefix)
        try #require(r.status == 0, "\(r.stderr)")
        try InstallSupport.expectRuns(prefix)
        #expect(try CondaEnvironment.load(prefix: prefix).records.count == 45)
    }

    @Test func entriesComeDependenciesFirstWhateverTheFileOrder() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("lock-order")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var trials = 0
        for seed in UInt64(1)...8 {
            let shuffled = S.shuffled(records, seed: seed)
            let fileOrder = shuffled.map { $0["name"] as! String }
            #expect(!S.dependenciesFirst(fileOrder, records: records), "seed \(seed): the shuffled order is already installable")
            for (text, name) in [(S.condaLock(shuffled) { "file://\(folder)/\($0)" }, "conda-lock.yml"),
                                 (S.condaLock(shuffled, version: false) { "file://\(folder)/\($0)" }, "old-conda-lock.yml"),
                                 (S.pixiLock(shuffled) { "file://\(folder)/\($0)" }, "pixi.lock")] {
                let spec = try S.load(text, dir: dir, name: name)
                let names = S.names(spec)
                #expect(Set(names).count == 45 && names.count == 45, "\(name)")
                #expect(S.dependenciesFirst(names, records: records), "seed \(seed) \(name): \(names)")
                #expect(try S.load(text, dir: dir, name: name) == spec, "not deterministic")
                #expect(spec.platform == "linux-64")
                trials += 1
            }
        }
        #expect(trials == 24)
        // Hashes and locations come through.
        let spec = try S.load(S.condaLock(records) { "file://\(folder)/\($0)" }, dir: dir)
        let zstd = try #require(spec.entries.first { $0.fileName.hasPrefix("zstd-") })
        #expect(zstd.sha256 == records.first { $0["name"] as? String == "zstd" }!["sha256"] as? String)
        #expect(zstd.md5 == records.first { $0["name"] as? String == "zstd" }!["md5"] as? String)
        #expect(zstd.source == .local(folder + "/" + zstd.fileName))
    }

    @Test func cyclesAreBrokenDeterministically() throws {
        let a = { (name: String, deps: [String]) in
            LockedConda(name: name, entry: SpecEntry(source: .local("/x/\(name)-1-0.conda"), md5: nil, sha256: nil, line: 0,
                                                     fileName: "\(name)-1-0.conda", location: name), dependencies: deps)
        }
        let order = LockOrder.dependenciesFirst([a("c", ["a"]), a("a", ["b"]), a("b", ["a", "missing"]), a("d", [])]).map(\.name)
        #expect(order == ["b", "a", "c", "d"])
        #expect(LockOrder.dependenciesFirst([a("x", ["x"])]).map(\.name) == ["x"])
        // A long chain does not exhaust the stack.
        let chain = (0..<50_000).map { a("p\($0)", $0 + 1 < 50_000 ? ["p\($0 + 1)"] : []) }
        let long = LockOrder.dependenciesFirst(chain)
        #expect(long.first?.name == "p49999" && long.last?.name == "p0" && long.count == 50_000)
    }

    @Test func categoriesOptionalAndPlatforms() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("lock-cat")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = String(repeating: "a", count: 64)
        let extra = """
            - name: devtool
              version: "1.0"
              manager: conda
              platform: linux-64
              dependencies: {}
              url: file:///nowhere/devtool-1.0-0.conda
              hash:
                sha256: \(h)
              category: dev
              optional: true
            - name: docstool
              version: "2.0"
              manager: pip
              platform: linux-64
              dependencies: {}
              url: https://files.example/docstool-2.0-py3-none-any.whl
              hash:
                sha256: \(h)
              category: docs
              optional: true
            - name: osxonly
              version: "1.0"
              manager: conda
              platform: osx-arm64
              dependencies: {}
              url: https://conda.example/osx-arm64/osxonly-1.0-0.conda
              hash:
                sha256: \(h)
              category: main
              optional: false

            """
        let text = S.condaLock(records, extra: extra) { "file://\(folder)/\($0)" }
        // Default: main only, this platform.
        let main = S.names(try S.load(text, dir: dir))
        #expect(main.count == 45 && !main.contains("devtool") && !main.contains("osxonly"))
        // --category dev adds devtool (dependencies first: it has none, so it stays in file order).
        let dev = S.names(try S.load(text, dir: dir) { $0.categories = ["dev"] })
        #expect(dev.count == 46 && dev.contains("devtool"))
        // --category docs and --with-optional reach the pip entry: selected
        // as a wheel (installed after the conda packages), never dropped.
        #expect(try S.load(text, dir: dir).wheels.isEmpty)
        for configure in [{ (s: inout LockSelection) in s.categories = ["docs"] }, { (s: inout LockSelection) in s.withOptional = true }] {
            let spec = try S.load(text, dir: dir, configure)
            #expect(spec.wheels.map(\.name) == ["docstool"], "\(spec.wheels.map(\.name))")
        }
        // Another platform: only its own entries, and the spec says which.
        let osx = try S.load(text, dir: dir) { $0.platform = "osx-arm64" }
        #expect(S.names(osx) == ["osxonly"] && osx.platform == "osx-arm64")
        // A platform the lock does not have: refused, naming what it has.
        let m = S.failure { _ = try S.load(text, dir: dir) { $0.platform = "win-64" } }
        #expect(m.contains("win-64") && m.contains("linux-64") && m.contains("osx-arm64") && m.contains("--platform"), "\(m)")
    }

    @Test func variablesInURLs() throws {
        let dir = try TestSupport.temporaryDirectory("lock-var")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let record: [String: Any] = ["name": "zlib", "version": "1", "fn": "zlib-1-0.conda", "md5": String(repeating: "b", count: 32),
                                     "sha256": String(repeating: "c", count: 64), "depends": [String]()]
        let unset = "ENVPACK_LOCK_TEST_SURELY_UNSET_\(getpid())"
        let m1 = S.failure { _ = try S.load(S.condaLock([record]) { "https://user:${\(unset)}@conda.example/\($0)" }, dir: dir) }
        #expect(m1.contains(unset) && m1.contains("zlib") && m1.contains("not set"), "\(m1)")
        let m2 = S.failure { _ = try S.load(S.condaLock([record]) { "https://conda.example/${1BAD}/\($0)" }, dir: dir) }
        #expect(m2.contains("1BAD"), "\(m2)")
        // A set one (HOME is always set here) is expanded; the location stays as written.
        let home = ProcessInfo.processInfo.environment["HOME"]!
        let spec = try S.load(S.condaLock([record]) { "file://${HOME}/\($0)" }, dir: dir)
        #expect(spec.entries.first?.source == .local(home + "/zlib-1-0.conda"))
        #expect(spec.entries.first?.location.contains("${HOME}") == true)
    }

    @Test func pixiSelectionAndRefusals() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("lock-pixi-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = S.pixiLock(records) { "file://\(folder)/\($0)" }
        let m1 = S.failure { _ = try S.load(base, dir: dir, name: "pixi.lock") { $0.environment = "test" } }
        #expect(m1.contains("'test'") && m1.contains("default") && m1.contains("--environment"), "\(m1)")
        let m2 = S.failure { _ = try S.load(base, dir: dir, name: "pixi.lock") { $0.platform = "osx-64" } }
        #expect(m2.contains("osx-64") && m2.contains("linux-64"), "\(m2)")
        let h = String(repeating: "d", count: 64)
        // A pypi wheel entry is selected as a wheel (WheelInstallTests installs them).
        let six = S.pixiLock(records, location: { "file://\(folder)/\($0)" },
                             extraSelectors: "      - pypi: https://files.example/six-1.16.0-py2.py3-none-any.whl\n",
                             extraPackages: "- pypi: https://files.example/six-1.16.0-py2.py3-none-any.whl\n  name: six\n  version: 1.16.0\n  sha256: \(h)\n")
        #expect(try S.load(six, dir: dir, name: "pixi.lock").wheels.map(\.name) == ["six"])
        let cases: [(String, String, [String])] = [
            ("      - pypi: https://files.example/foo-1.0.tar.gz\n",
             "- pypi: https://files.example/foo-1.0.tar.gz\n  name: foo\n  version: 1.0\n  sha256: \(h)\n",
             ["foo-1.0.tar.gz", "source"]),
            ("      - conda: ./recipes/mytool\n",
             "- conda: ./recipes/mytool\n  name: mytool\n  version: 0.1.0\n  build: h0_0\n  subdir: linux-64\n",
             ["recipes/mytool", "source package"]),
            ("      - conda_source: ./recipes/other\n", "", ["recipes/other", "source package"]),
        ]
        for (selector, package, mentions) in cases {
            let text = S.pixiLock(records, location: { "file://\(folder)/\($0)" }, extraSelectors: selector, extraPackages: package)
            let m = S.failure { _ = try S.load(text, dir: dir, name: "pixi.lock") }
            #expect(mentions.allSatisfy { m.contains($0) } && m.contains("pixi.lock:"), "\(m)")
        }
        // A version-4 style entry (kind: conda, url:) is read too.
        let r = records.first { $0["name"] as? String == "zstd" }!
        let fn = r["fn"] as! String
        let v4 = """
            version: 4
            environments:
              default:
                channels:
                - url: https://conda.anaconda.org/conda-forge/
                packages:
                  linux-64:
                  - conda: file://\(folder)/\(fn)
            packages:
            - kind: conda
              name: zstd
              version: "\(r["version"] as! String)"
              build: \(r["build"] as! String)
              subdir: linux-64
              url: file://\(folder)/\(fn)
              sha256: \(r["sha256"] as! String)

            """
        let spec = try S.load(v4, dir: dir, name: "pixi.lock")
        #expect(spec.entries.map(\.fileName) == [fn] && spec.entries.first?.sha256 == r["sha256"] as? String)
        let m3 = S.failure { _ = try S.load(v4.replacingOccurrences(of: "version: 4", with: "version: 3"), dir: dir, name: "pixi.lock") }
        #expect(m3.contains("version 3"), "\(m3)")
    }

    @Test func hostileLockFiles() throws {
        let dir = try TestSupport.temporaryDirectory("lock-hostile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = String(repeating: "e", count: 64)
        func entry(_ url: String, sha: String = h) -> [String: Any] {
            ["name": "evil", "version": "1", "fn": url, "md5": String(repeating: "f", count: 32), "sha256": sha, "depends": [String]()]
        }
        let cases: [([String: Any], [String])] = [
            (entry("https://x.example/../../etc/passwd"), ["evil", "passwd"]),
            (entry("https://x.example/evil-1-0.zip"), ["evil", "evil-1-0.zip"]),
            (entry("ftp://x.example/evil-1-0.conda"), ["evil", "ftp"]),
            (entry("https://x.example/evil-1-0.conda", sha: "xyz"), ["evil", "sha256"]),
        ]
        for (record, mentions) in cases {
            let m = S.failure { _ = try S.load(S.condaLock([record]) { $0 }, dir: dir) }
            #expect(mentions.allSatisfy { m.contains($0) } && m.contains("lock.yml:"), "\(m)")
        }
        // Text from the file stays on one line in the message.
        var twoLines = entry("ftp://x.example/evil-1-0.conda")
        twoLines["name"] = "evil\\nsecond line"
        let oneLine = S.failure { _ = try S.load(S.condaLock([twoLines]) { $0 }, dir: dir) }
        #expect(oneLine.contains("second line") && !oneLine.contains("\n"), "\(oneLine)")
        // Broken YAML in a lock file: said so, not read as an explicit spec.
        let broken = S.failure { _ = try S.load("version: 1\npackage:\n- name: [zlib\n  url: x\n", dir: dir, name: "conda-lock.yml") }
        #expect(broken.contains("conda-lock.yml") && broken.contains("not valid YAML") && !broken.contains("URL scheme"), "\(broken)")
        // Over the size cap: refused before it is parsed.
        let big = dir + "/big.yml"
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        #expect(truncate(big, off_t(LockFileKind.maxFileSize + 1)) == 0)
        let m = S.failure { _ = try ExplicitSpec.load(path: big, selection: LockSelection()) }
        #expect(m.contains("big.yml") && m.contains("bytes"), "\(m)")
        // Not a file (a folder, a device, a pipe): said in plain words.
        for path in [dir, "/dev/zero"] {
            let n = S.failure { _ = try ExplicitSpec.load(path: path, selection: LockSelection()) }
            #expect(n.contains(path) && n.contains("not a regular file"), "\(n)")
        }
    }
}

@Suite struct LockFileRefusalTests {
    typealias S = LockFileSupport

    func expectRefused(_ text: String, name: String, mentions: [String], extra: [String] = [],
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try TestSupport.temporaryDirectory("lock-refuse")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/env"
        let r = try S.install(text, dir: dir, name: name, prefix: prefix, extra: extra)
        InstallFailureTests().expectNothingAt(prefix, r, mentions: mentions, sourceLocation: sourceLocation)
    }

    @Test func unlockedInputsAndPyPIEntriesAreRefused() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        // environment.yml: needs a solver; conda-lock and pixi named.
        try expectRefused("name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.12\n  - pip:\n    - requests\n",
                          name: "environment.yml", mentions: ["environment.yml", "solver", "conda-lock", "pixi"])
        // Named anything else, still told from its content.
        try expectRefused("channels: [conda-forge]\ndependencies: [zlib]\n", name: "deps.txt", mentions: ["deps.txt", "solver"])
        try expectRefused("[workspace]\nname = \"x\"\n[dependencies]\npython = \"3.12.*\"\n", name: "pixi.toml", mentions: ["pixi.toml", "solver"])
        // conda-lock's explicit render with a `# pip` line: installed, never
        // dropped (here offline and not cached: refused, named).
        let explicit = InstallSupport.spec(records) { "file://\(folder)/\($0)" }
            + "# pip requests @ https://files.example/requests-2.32.3-py3-none-any.whl#sha256=\(String(repeating: "0", count: 64))\n"
        try expectRefused(explicit, name: "conda-linux-64.lock", mentions: ["requests-2.32.3-py3-none-any.whl", "--offline"], extra: ["--offline"])
        try expectRefused(explicit.replacingOccurrences(of: "#sha256=", with: "#md5="), name: "conda-linux-64.lock",
                          mentions: ["conda-linux-64.lock:48", "requests", "sha256"])
        // A conda-lock pip entry in main.
        let pip = """
            - name: requests
              version: "2.32.3"
              manager: pip
              platform: linux-64
              dependencies: {}
              url: https://files.example/requests-2.32.3-py3-none-any.whl
              hash:
                sha256: \(String(repeating: "0", count: 64))
              category: main
              optional: false

            """
        try expectRefused(S.condaLock(records, extra: pip) { "file://\(folder)/\($0)" }, name: "conda-lock.yml",
                          mentions: ["requests-2.32.3-py3-none-any.whl", "--offline"], extra: ["--offline"])
        // A pixi source package.
        try expectRefused(S.pixiLock(records, location: { "file://\(folder)/\($0)" }, extraSelectors: "      - conda: ./src/mytool\n",
                                     extraPackages: "- conda: ./src/mytool\n  name: mytool\n  version: 0.1.0\n  build: h0_0\n  subdir: linux-64\n"),
                          name: "pixi.lock", mentions: ["pixi.lock:", "src/mytool", "source package"])
    }

    @Test func otherPlatformsAndUnsetVariablesAreRefused() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let osx = S.condaLock(records, platform: "osx-arm64") { "file://\(folder)/\($0)" }
        try expectRefused(osx, name: "conda-lock.yml", mentions: ["conda-lock.yml", "osx-arm64", "--platform"])
        // Chosen with --platform: the installer still wants --force for another machine's packages.
        try expectRefused(osx, name: "conda-lock.yml", mentions: ["osx-arm64", "--force"], extra: ["--platform", "osx-arm64"])
        try expectRefused(S.pixiLock(records, platform: "osx-arm64") { "file://\(folder)/\($0)" }, name: "pixi.lock",
                          mentions: ["pixi.lock", "osx-arm64", "--platform"])
        let unset = "ENVPACK_LOCK_TEST_SURELY_UNSET_\(getpid())"
        try expectRefused(S.condaLock(records) { "file://${\(unset)}/\($0)" }, name: "conda-lock.yml",
                          mentions: ["conda-lock.yml:", unset])
    }

    @Test func anotherPlatformsLockInstallsWithPlatformAndForce() throws {
        // A bundle made elsewhere: the lock's packages are labelled osx-64
        // (they are this machine's files), installed with --platform --force.
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("lock-bundle")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try S.install(S.condaLock(S.shuffled(records, seed: 64), platform: "osx-64") { "file://\(folder)/\($0)" },
                              dir: dir, name: "conda-lock.yml", prefix: dir + "/env", extra: ["--platform", "osx-64", "--force"])
        try #require(r.status == 0, "\(r.stderr)")
        try InstallSupport.expectRuns(dir + "/env")
    }
}
