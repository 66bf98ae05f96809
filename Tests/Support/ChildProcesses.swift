public import Foundation

/// Adds, to a child's spawn actions, closing every descriptor from 3 up. Sockets are not
/// close-on-exec, so a server a test starts would otherwise keep the sockets other tests
/// have open at that moment, and their peers would never see them close.
public func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    // glibc 2.34 and later; not visible to Swift without _GNU_SOURCE.
    if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        return
    }
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for descriptor in open.compactMap(Int32.init) where descriptor > 2 {
        posix_spawn_file_actions_addclose(&actions, descriptor)
    }
}
