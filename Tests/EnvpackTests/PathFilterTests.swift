import Testing
@testable import Envpack

@Suite struct PathFilterTests {
    @Test func rulesApplyInOrder() {
        let f = PathFilter(rules: [.exclude("*.pyc"), .include("lib/keep/*"), .exclude("lib/keep/secret*")])
        #expect(f.keeps("bin/python"))
        #expect(!f.keeps("lib/python3.12/__pycache__/os.cpython-312.pyc"))
        #expect(f.keeps("lib/keep/a.pyc"))
        #expect(!f.keeps("lib/keep/secret.pyc"))
    }

    @Test func directoriesFollowTheirContents() {
        func dir(_ p: String) -> TreeEntry { TreeEntry(path: p, status: FileStatus(kind: .directory, mode: 0o755, size: 0, mtime: 0, device: 0, inode: 0, linkCount: 1)) }
        func file(_ p: String) -> TreeEntry { TreeEntry(path: p, status: FileStatus(kind: .regular, mode: 0o644, size: 1, mtime: 0, device: 0, inode: 0, linkCount: 1)) }
        let tree = [dir("a"), file("a/x.pyc"), dir("b"), file("b/y.py"), dir("c"), dir("docs")]
        let kept = PathFilter(rules: [.exclude("*.pyc"), .exclude("docs")]).apply(tree).map(\.path)
        // "a" lost its only file; "c" is empty and not excluded; "docs" is excluded.
        #expect(kept == ["b", "b/y.py", "c"])
    }
}
