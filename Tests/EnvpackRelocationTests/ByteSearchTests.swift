import Testing
@testable import EnvpackRelocation

@Suite struct ByteSearchTests {
    /// Straightforward reference: every non-overlapping match, left to right.
    func naive(_ needle: [UInt8], _ hay: [UInt8]) -> [Int] {
        var result: [Int] = []
        var i = 0
        while i + needle.count <= hay.count {
            if Array(hay[i..<(i + needle.count)]) == needle { result.append(i); i += needle.count } else { i += 1 }
        }
        return result
    }

    @Test func findsAllOccurrences() {
        let hay = Array("xx/opt/envxx/opt/env/opt/env".utf8)
        let found = hay.withUnsafeBytes { occurrences(of: Array("/opt/env".utf8), in: $0) }
        #expect(found == [2, 12, 20])
    }

    @Test(arguments: [1, 2, 3, 7, 64])
    func streamingMatchesNaiveAcrossChunkBoundaries(chunk: Int) {
        var rng = SystemRandomNumberGenerator()
        let needle = Array("/pre/fix".utf8)
        for _ in 0..<50 {
            var hay: [UInt8] = []
            for _ in 0..<200 {
                if Int.random(in: 0..<10, using: &rng) == 0 { hay += needle } else { hay.append(UInt8.random(in: 0x2f...0x78, using: &rng)) }
            }
            var matcher = StreamingMatcher(needle: needle)
            var start = 0
            while start < hay.count {
                let end = min(hay.count, start + chunk)
                hay[start..<end].withUnsafeBytes { matcher.feed($0) }
                start = end
            }
            #expect(matcher.offsets == naive(needle, hay))
        }
    }

    @Test(arguments: [1, 2, 3, 5])
    func selfOverlappingNeedlesOverRandomChunks(chunk: Int) {
        for needle in [Array("abab".utf8), Array("aaa".utf8), Array("aab".utf8)] {
            for _ in 0..<200 {
                let hay = (0..<40).map { _ in Bool.random() ? UInt8(ascii: "a") : UInt8(ascii: "b") }
                var matcher = StreamingMatcher(needle: needle)
                var start = 0
                while start < hay.count {
                    let end = min(hay.count, start + Int.random(in: 1...chunk))
                    hay[start..<end].withUnsafeBytes { matcher.feed($0) }
                    start = end
                }
                #expect(matcher.offsets == naive(needle, hay))
            }
        }
    }

    @Test func selfOverlappingNeedleIsCountedOnceAcrossChunks() {
        let needle = Array("aaa".utf8)
        var matcher = StreamingMatcher(needle: needle)
        for piece in ["aa", "aa", "aa"] { Array(piece.utf8).withUnsafeBytes { matcher.feed($0) } }
        #expect(matcher.offsets == naive(needle, Array("aaaaaa".utf8)))
    }
}

@Suite struct StaleOccurrenceTests {
    @Test func anOldPrefixInsideTheCurrentOneIsNotStale() {
        let text = Array("/a/env-moved/bin and /a/env/lib".utf8)
        #expect(staleOccurrences(of: "/a/env", current: "/a/env-moved", in: text) == [21])
    }
}
