// What is checked about a lock's wheels before anything is written: each
// distribution once (the same wheel named twice is installed once; two
// different wheels of one distribution are an error naming both), a python
// among the conda packages, and every wheel's tags suiting that python and
// the platform (WheelTags).
import Foundation

enum WheelChecks {
    /// The wheels to install, in order; `log` gets a note for each repeat.
    static func deduplicated(_ wheels: [WheelEntry], specPath: String, log: (String) -> Void) throws -> [WheelEntry] {
        var kept: [WheelEntry] = []
        var byName: [String: Int] = [:]
        for wheel in wheels {
            let key = PipOwnership.normalizedName(wheel.fileName.distribution)
            guard let i = byName[key] else {
                byName[key] = kept.count
                kept.append(wheel)
                continue
            }
            let first = kept[i]
            guard first.spec.fileName == wheel.spec.fileName, first.spec.sha256 == wheel.spec.sha256 else {
                throw EnvpackError.malformedFile(path: specPath, reason: "lines \(first.spec.line) and \(wheel.spec.line) both name the PyPI package \(wheel.fileName.distribution) (\(first.spec.fileName), \(wheel.spec.fileName)) with different files or hashes; keep one of them")
            }
            log("note: line \(wheel.spec.line) repeats line \(first.spec.line) (\(wheel.spec.fileName)); installing it once")
        }
        return kept
    }

    /// Refuses a wheel the environment's python cannot use, naming it.
    static func checkTags(_ wheels: [WheelEntry], pythonVersion: String?, platform: String, specPath: String) throws {
        guard let first = wheels.first else { return }
        guard let pythonVersion else {
            throw EnvpackError.malformedFile(path: specPath, reason: "\(first.label) (line \(first.spec.line)) is a PyPI package, but the lock has no python package to install it for")
        }
        guard let target = WheelTarget(pythonVersion: pythonVersion, platform: platform) else {
            throw EnvpackError.malformedFile(path: specPath, reason: "\(first.label): envpack installs wheels for CPython 3 on linux-64, linux-aarch64 and linux-ppc64le, not python \(pythonVersion) on \(platform)")
        }
        for wheel in wheels {
            if let why = target.mismatch(wheel.fileName) {
                throw EnvpackError.malformedFile(path: "\(specPath):\(wheel.spec.line)", reason: "\(wheel.label) does not suit this environment: \(why)")
            }
        }
    }
}
