// Which wheels the environment's python can use, by the tags in the wheel's
// file name (PEP 427 `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`,
// PEP 425 compressed tag sets), strictly as pip's `packaging.tags` does for
// CPython on Linux: `py3`/`py3Y` (Y up to the environment's minor) with
// abi `none`; `cpXY` with abi `cpXY` or `none` for the environment's
// version; `abi3` for `cp3Y`, Y up to it; platform `any`, `linux_ARCH`,
// `manylinux1/2010/2014_ARCH` and `manylinux_X_Y_ARCH` up to the glibc
// the wheel will run on. musllinux wheels need a musl python: refused here.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct WheelFileName: Sendable, Equatable {
    public var distribution: String
    public var version: String
    public var pythonTags: [String]
    public var abiTags: [String]
    public var platformTags: [String]

    /// Parses a wheel file name; nil when it is not one.
    public init?(_ fileName: String) {
        guard fileName.hasSuffix(".whl") else { return nil }
        let parts = fileName.dropLast(4).split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5 || parts.count == 6, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        distribution = parts[0]
        version = parts[1]
        pythonTags = parts[parts.count - 3].split(separator: ".").map(String.init)
        abiTags = parts[parts.count - 2].split(separator: ".").map(String.init)
        platformTags = parts[parts.count - 1].split(separator: ".").map(String.init)
    }
}

/// The interpreter and machine a wheel must suit.
public struct WheelTarget: Sendable, Equatable {
    /// The environment's python, e.g. (3, 12).
    public var major: Int
    public var minor: Int
    /// `x86_64` or `aarch64`.
    public var arch: String
    /// glibc of the machine the environment runs on, e.g. (2, 36).
    public var glibc: (Int, Int)

    public static func == (a: WheelTarget, b: WheelTarget) -> Bool {
        a.major == b.major && a.minor == b.minor && a.arch == b.arch && a.glibc == b.glibc
    }

    /// For python `version` ("3.12.1") and a conda platform; nil when the
    /// version or platform is not one wheels can be checked for.
    public init?(pythonVersion: String, platform: String) {
        let numbers = pythonVersion.split(separator: ".").prefix(2).compactMap { Int($0) }
        guard numbers.count == 2, numbers[0] == 3 else { return nil }
        (major, minor) = (numbers[0], numbers[1])
        switch platform {
        case "linux-64": arch = "x86_64"
        case "linux-aarch64": arch = "aarch64"
        case "linux-ppc64le": arch = "ppc64le"
        default: return nil
        }
        glibc = Self.machineGlibc()
    }

    /// This machine's glibc version (confstr, "glibc 2.36"); (0, 0) when
    /// unknown, which no manylinux tag suits.
    static func machineGlibc() -> (Int, Int) {
        var buffer = [CChar](repeating: 0, count: 64)
        let n = confstr(Int32(_CS_GNU_LIBC_VERSION), &buffer, buffer.count)
        guard n > 0, n <= buffer.count else { return (0, 0) }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let numbers = (text.split(separator: " ").last ?? "").split(separator: ".").prefix(2).compactMap { Int($0) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : (0, 0)
    }

    /// nil when some tag triple of `name` suits this target; else why not,
    /// in words (the first mismatch found: python, abi or platform).
    public func mismatch(_ name: WheelFileName) -> String? {
        var reasons: [String] = []
        for py in name.pythonTags {
            for abi in name.abiTags {
                if let why = pythonMismatch(py, abi) { reasons.append(why); continue }
                for platform in name.platformTags {
                    if let why = platformMismatch(platform) { reasons.append(why) } else { return nil }
                }
            }
        }
        return reasons.first ?? "it has no tags"
    }

    var versionText: String { "\(major).\(minor)" }

    /// Whether python tag `py` with abi `abi` loads in this python.
    func pythonMismatch(_ py: String, _ abi: String) -> String? {
        let own = "cp\(major)\(minor)"
        func minorOf(_ tag: String, _ head: String) -> Int? {
            guard tag.hasPrefix(head + "\(major)") else { return nil }
            let rest = tag.dropFirst(head.count + 1)
            return rest.isEmpty ? -1 : Int(rest)
        }
        switch abi {
        case "none":
            if py == "py\(major)" { return nil }
            if let m = minorOf(py, "py"), m >= 0, m <= minor { return nil }
            if py == own { return nil }
        case "abi3":
            if let m = minorOf(py, "cp"), m >= 2, m <= minor { return nil }
        case own:
            if py == own { return nil }
        default:
            break
        }
        if py.hasPrefix("cp") || py.hasPrefix("py"), let m = minorOf(py, py.hasPrefix("cp") ? "cp" : "py"), m >= 0, m != minor {
            return "built for python \(major).\(m) (\(py)-\(abi)), the environment's python is \(versionText)"
        }
        if !py.hasPrefix("py\(major)") && !py.hasPrefix("cp\(major)") {
            return "built for \(py)-\(abi), not for python \(major) (the environment's python is \(versionText))"
        }
        return "built for \(py)-\(abi), which CPython \(versionText) (\(own)) cannot load"
    }

    /// Whether platform tag `platform` runs on this machine.
    func platformMismatch(_ platform: String) -> String? {
        if platform == "any" || platform == "linux_" + arch { return nil }
        let glibcText = "\(glibc.0).\(glibc.1)"
        for (legacy, version) in [("manylinux1", (2, 5)), ("manylinux2010", (2, 12)), ("manylinux2014", (2, 17))]
        where platform == legacy + "_" + arch {
            return version <= glibc ? nil : "\(platform) needs glibc \(version.0).\(version.1), this machine has \(glibcText)"
        }
        if platform.hasPrefix("manylinux_"), platform.hasSuffix("_" + arch) {
            let middle = platform.dropFirst("manylinux_".count).dropLast(arch.count + 1).split(separator: "_")
            guard middle.count == 2, let a = Int(middle[0]), let b = Int(middle[1]) else {
                return "\(platform) is not a platform tag envpack knows"
            }
            return (a, b) <= glibc ? nil : "\(platform) needs glibc \(a).\(b), this machine has \(glibcText)"
        }
        if platform.hasPrefix("musllinux_") {
            return "\(platform) is for musl-based systems; this environment's python uses glibc"
        }
        return "\(platform) is not for linux \(arch)"
    }
}
