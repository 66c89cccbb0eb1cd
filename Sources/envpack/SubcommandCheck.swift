// Whether the first word of a command line names a subcommand, and if not,
// which one was probably meant.
enum SubcommandCheck {
    static func problem(_ arguments: [String], known: [String]) -> String? {
        guard var word = arguments.first, !word.hasPrefix("-") else { return nil }
        if word == "help" {
            guard arguments.count > 1, !arguments[1].hasPrefix("-") else { return nil }
            word = arguments[1]
        }
        guard !known.contains(word) else { return nil }
        let nearest = known.map { ($0, distance(word, $0)) }.min { $0.1 < $1.1 }
        if let nearest, nearest.1 <= 2 {
            return "'\(word)' is not an envpack subcommand; did you mean '\(nearest.0)'?"
        }
        return "'\(word)' is not an envpack subcommand (subcommands: \(known.joined(separator: ", ")))"
    }

    /// Edit distance with adjacent swaps (Damerau, optimal string alignment).
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
