// Entry points of noarch: python packages (`info/link.json`), written as
// conda writes them: a small python script in bin/ whose shebang is the
// environment's python (a /bin/sh trampoline when the path is too long for
// the kernel), never `/usr/bin/env python`.
import EnvpackRelocation

public struct EntryPoint: Sendable, Equatable {
    public var command: String
    public var module: String
    public var function: String

    /// Parses `name = module:func` (extras in brackets are ignored).
    public init?(_ text: String) {
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty else { return nil }
        var target = parts[1]
        if let bracket = target.firstIndex(of: "[") { target = String(target[..<bracket]).trimmingCharacters(in: .whitespaces) }
        let pieces = target.split(separator: ":", maxSplits: 1).map(String.init)
        guard pieces.count == 2, !pieces[0].isEmpty, !pieces[1].isEmpty else { return nil }
        command = parts[0]
        module = pieces[0]
        function = pieces[1]
    }

    /// The script's text for an environment at `prefix` with python X.Y.
    public func script(prefix: String, pythonVersion: String) throws -> String {
        let shebang = try relocatedShebang(interpreter: prefix + "/bin/python" + pythonVersion, argument: "",
                                           kernelLimit: classicShebangLimit)
        let head = function.split(separator: ".").first.map(String.init) ?? function
        return """
        \(shebang)
        # -*- coding: utf-8 -*-
        import re
        import sys

        from \(module) import \(head)

        if __name__ == '__main__':
            sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
            sys.exit(\(function)())

        """
    }
}
