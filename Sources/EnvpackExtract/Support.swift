// What the extraction module needs from outside Swift's standard library,
// without Foundation (the static helper links this module and must stay
// small): its error type, errno text, hex digits, the UTF-8 locale
// libarchive converts names through, a detached thread and a one-shot
// completion signal (pthreads), and the hooks envpack plugs its progress
// display into.
import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// Every failure while reading or extracting an archive, as one line that
/// names the file or entry. Envpack maps these onto its own EnvpackError
/// cases of the same names and words.
public enum ExtractError: Error, Equatable, CustomStringConvertible {
    case archive(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case unreadable(path: String, reason: String)
    /// A refusal that is not about one archive (a destination in the way).
    case refused(String)

    public var description: String {
        switch self {
        case .archive(let path, let reason): return "\(path): \(reason)"
        case .writeFailed(let path, let reason): return "cannot write \(path): \(reason)"
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .refused(let message): return message
        }
    }
}

/// Counts extracted entries and bytes (envpack's Progress conforms).
public protocol ExtractionProgress: AnyObject {
    func advance(files: Int, bytes: Int)
}

/// The message for an errno value.
func errnoMessage(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Whether `text` holds `part` (String.contains(String) needs
/// _StringProcessing or Foundation, which the helper's build leaves out).
public func containsText(_ text: String, _ part: String) -> Bool {
    let hay = Array(text.utf8), needle = Array(part.utf8)
    if needle.isEmpty { return true }
    if needle.count > hay.count { return false }
    for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
        return true
    }
    return false
}

/// Lowercase hex of bytes.
public func hexDigits<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.underestimatedCount * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// libarchive converts entry names through the C library's locale; in the
/// default "C" locale a non-ASCII name cannot be converted and the entry is
/// lost. Names in conda environments are UTF-8, so use a UTF-8 locale.
let extractUTF8Locale: Void = {
    if setlocale(LC_CTYPE, "C.UTF-8") == nil { _ = setlocale(LC_CTYPE, "en_US.UTF-8") }
}()

let fileTypeRegular: UInt32 = 0o100000
let fileTypeDirectory: UInt32 = 0o040000
let fileTypeSymlink: UInt32 = 0o120000

/// Runs `body` on a new detached thread; false when none could be started.
func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let started = pthread_create(&thread, &attributes, { argument in
        Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
        return nil
    }, box)
    if started != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        return false
    }
    return true
}

/// A one-shot signal: `signal()` once, `wait()` any number of times (each
/// returns once it has been signalled).
final class Completion: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var done = false

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func signal() {
        pthread_mutex_lock(mutex)
        done = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func wait() {
        pthread_mutex_lock(mutex)
        while !done { pthread_cond_wait(condition, mutex) }
        pthread_mutex_unlock(mutex)
    }
}
