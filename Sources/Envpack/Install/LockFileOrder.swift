// Install order for locked conda packages: a lock file lists packages in no
// particular order, and conda links dependencies before their dependents
// (a post-link script or a noarch python package needs python in place).
// A depth-first post-order in file order: deterministic, stable for packages
// that do not depend on each other, and a dependency cycle is broken where
// the walk first meets it instead of failing. Iterative, so a long chain
// cannot exhaust the stack.
enum LockOrder {
    static func dependenciesFirst(_ packages: [LockedConda]) -> [LockedConda] {
        var indexByName: [String: Int] = [:]
        for (i, p) in packages.enumerated() where indexByName[p.name] == nil { indexByName[p.name] = i }
        let edges: [[Int]] = packages.map { p in p.dependencies.compactMap { indexByName[$0] }.sorted() }
        enum State { case new, open, done }
        var state = [State](repeating: .new, count: packages.count)
        var order: [Int] = []
        order.reserveCapacity(packages.count)
        for start in packages.indices where state[start] == .new {
            // (node, next edge to follow)
            var stack: [(Int, Int)] = [(start, 0)]
            state[start] = .open
            while let (node, next) = stack.last {
                if next < edges[node].count {
                    stack[stack.count - 1].1 = next + 1
                    let dep = edges[node][next]
                    if state[dep] == .new {  // .open: a cycle, broken here
                        state[dep] = .open
                        stack.append((dep, 0))
                    }
                } else {
                    stack.removeLast()
                    state[node] = .done
                    order.append(node)
                }
            }
        }
        return order.map { packages[$0] }
    }
}
