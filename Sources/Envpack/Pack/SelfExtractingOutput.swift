// `envpack pack --format sh`: one file that installs the environment on a
// machine with nothing but sh, dd (or tail and head) and mktemp. Layout:
//   bytes 0..8191     a POSIX sh header (below), padded with newlines;
//   then              the static helper (envpack-unpack), zero-padded to a
//                     multiple of 4096 bytes, so dd can cut it out in blocks;
//   then              the environment as a tar.zst archive (the payload).
// The header copies the helper to a private temporary file and runs it with
// the payload's place and sha256; the helper checks the sha256 before it
// writes anything (a damaged download is refused, with nothing at DEST),
// then unpacks into a staging folder beside DEST, relocates and renames it
// into place, as `envpack unpack` does. The header is written last (the
// payload's size and digest are known only then), over a reserved block, so
// the archive streams straight into the file. Deterministic: the header
// holds nothing but sizes, digests and envpack's version.
import EnvpackRelocation
#if canImport(Glibc)
import Glibc
#endif

enum SelfExtractingOutput {
    static let headerSize = 8192
    static let block = 4096

    static func pack(_ options: PackOptions) throws -> PackSummary {
        var archive = options
        archive.layout = .archive
        archive.format = .tarZstd
        let helper = try options.helperPath ?? HelperLocator.locate()
        archive.helperPath = helper
        let helperBytes: [UInt8]
        do { helperBytes = try readWholeFile(helper, limit: 64 << 20) } catch {
            throw EnvpackError.unreadable(path: helper, reason: error.description)
        }
        var helperHasher = SHA256Hasher()
        helperBytes.withUnsafeBytes { helperHasher.update(bufferPointer: $0) }
        let helperSHA = helperHasher.finalizeHex()
        let helperPadded = (helperBytes.count + block - 1) / block * block
        let payloadOffset = headerSize + helperPadded

        return try Packer.pack(archive, output: {
            let output = try OutputFile(path: options.output, force: options.force)
            let fd = output.fd
            let display = output.displayPath
            // The header is written last, at the start: a pipe or a device
            // cannot take it.
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, lseek(fd, 0, SEEK_CUR) == 0 else {
                throw EnvpackError.invalidOption("--format sh writes a regular file (its header is written last): give -o FILE.sh, not a pipe or a device")
            }
            var prefix = [UInt8](repeating: 0x0a, count: headerSize)
            prefix += helperBytes
            prefix += [UInt8](repeating: 0, count: helperPadded - helperBytes.count)
            try writeAll(fd, prefix, path: display)
            output.beforeCommit = {
                let end = lseek(fd, 0, SEEK_END)
                guard end >= payloadOffset else { throw EnvpackError.writeFailed(path: display, reason: errnoMessage()) }
                let length = Int(end) - payloadOffset
                let sha = try hashRange(fd, offset: payloadOffset, length: length, path: display)
                var header = Array(render(helperOffset: headerSize, helperSize: helperBytes.count, helperSHA: helperSHA,
                                          payloadOffset: payloadOffset, payloadSize: length, payloadSHA: sha).utf8)
                guard header.count < headerSize else {
                    throw EnvpackError.writeFailed(path: display, reason: "the sh header is longer than \(headerSize) bytes")
                }
                header += [UInt8](repeating: 0x0a, count: headerSize - header.count)
                let written = header.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                guard written == header.count else { throw EnvpackError.writeFailed(path: display, reason: errnoMessage()) }
                _ = fchmod(fd, 0o755)
            }
            return output
        })
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw EnvpackError.writeFailed(path: path, reason: errnoMessage()) }
            done += n
        }
    }

    private static func hashRange(_ fd: Int32, offset: Int, length: Int, path: String) throws -> String {
        var hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var position = offset, left = length
        while left > 0 {
            let n = pread(fd, buffer.baseAddress, min(buffer.count, left), off_t(position))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw EnvpackError.unreadable(path: path, reason: n == 0 ? "it ends early" : errnoMessage()) }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += n; left -= n
        }
        return hasher.finalizeHex()
    }

    /// The header: documentation for a reader, then the script.
    static func render(helperOffset: Int, helperSize: Int, helperSHA: String,
                       payloadOffset: Int, payloadSize: Int, payloadSHA: String) -> String {
        let helperBlocks = (helperSize + block - 1) / block
        return """
        #!/bin/sh
        # A self-extracting conda environment, written by envpack \(envpackVersion).
        #
        #   sh THIS-FILE DEST        unpack into DEST (a new or empty folder) and relocate it there
        #   sh THIS-FILE -f DEST     replace DEST if it is a conda environment already
        #   sh THIS-FILE --list      list the environment's files
        #   sh THIS-FILE --help      this text
        #
        # This file is this sh script followed by two binary parts:
        #   bytes \(helperOffset)..\(helperOffset + helperSize - 1): envpack-unpack, envpack's static x86-64 Linux
        #     unpack helper (sha256 \(helperSHA)),
        #     zero-padded to byte \(payloadOffset - 1);
        #   bytes \(payloadOffset)..\(payloadOffset + payloadSize - 1): the environment, a tar.zst archive
        #     (sha256 \(payloadSHA)).
        # The script copies the helper to a private temporary file (mktemp) and runs
        # it; the helper checks the archive's sha256 before it writes anything (a
        # damaged file is refused and nothing is written), unpacks into a staging
        # folder beside DEST, relocates, and renames the finished environment into
        # place. An interrupted run leaves nothing at DEST; the next run cleans up.
        # Needs only sh, dd (or tail and head) and mktemp: no tar, zstd or python.
        # The archive alone:
        #   tail -c +\(payloadOffset + 1) THIS-FILE > env.tar.zst
        helper_offset=\(helperOffset)
        helper_size=\(helperSize)
        helper_blocks=\(helperBlocks)
        payload=\(payloadOffset):\(payloadSize):\(payloadSHA)

        usage() {
            printf '%s\\n' "usage: sh $0 DEST        unpack into DEST (a new or empty folder) and relocate it there" \\
                "       sh $0 -f DEST     replace DEST if it is a conda environment already" \\
                "       sh $0 --list      list the environment's files"
        }
        case "${1:-}" in
            -h|--help) usage; exit 0 ;;
            "") usage >&2; exit 64 ;;
        esac
        tmp=$(mktemp "${TMPDIR:-/tmp}/envpack-unpack.XXXXXX") || exit 1
        trap 'rm -f "$tmp"' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        trap 'exit 129' HUP
        if command -v dd >/dev/null 2>&1; then
            dd if="$0" of="$tmp" bs=\(block) skip=$((helper_offset / \(block))) count=$helper_blocks 2>/dev/null || exit 1
        else
            tail -c +$((helper_offset + 1)) "$0" | head -c "$helper_size" > "$tmp" || exit 1
        fi
        chmod 700 "$tmp" || exit 1
        if [ "$1" = "--list" ]; then
            "$tmp" --list --payload "$payload" "$0"
        else
            "$tmp" --payload "$payload" "$0" "$@"
        fi
        exit $?

        """
    }
}
