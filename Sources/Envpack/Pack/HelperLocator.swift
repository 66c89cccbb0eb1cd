// Finding the static unpack helper that every archive carries. It must be a
// static executable: the machine that unpacks may have no Swift runtime, so
// a dynamically linked debug build found by accident is passed over.
import EnvpackRelocation
import Foundation

public enum HelperLocator {
    /// Where `scripts/build-helper.sh` leaves the helper, relative to the
    /// package root.
    public static let buildOutput = ".build/envpack-unpack-static"

    public static func locate() throws -> String {
        var searched: [String] = []
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["ENVPACK_HELPER"], !explicit.isEmpty {
            candidates.append(explicit)
        }
        if let exe = readLink("/proc/self/exe") {
            let dir = (exe as NSString).deletingLastPathComponent
            candidates.append(dir + "/envpack-unpack")
            candidates.append(dir + "/../libexec/envpack/envpack-unpack")
            // A development build: .build/<triple>/<config>/envpack
            candidates.append(dir + "/../../envpack-unpack-static")
            candidates.append(dir + "/../envpack-unpack-static")
        }
        // The source tree this binary was built from, when it still exists.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(buildOutput).path)

        for candidate in candidates {
            let path = absolutePath(candidate)
            searched.append(path)
            if statFollowing(path)?.kind == .regular, isStaticExecutable(path: path) { return path }
        }
        throw EnvpackError.helperNotFound(searched: searched)
    }
}
