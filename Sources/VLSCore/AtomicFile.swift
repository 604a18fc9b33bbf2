import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Atomic file writes: a temporary file beside the target, then rename, so a kill or a
/// full disk mid-write leaves the old file whole (or no file), never a torn one.
public enum AtomicFile {
    /// Writes `data` to `path`, creating missing parent folders.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: parent.path) {
            try? FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        }
        do {
            try data.write(to: url, options: [.atomic])
        } catch {
            throw CoreError("\(path): cannot write (\(error.localizedDescription))")
        }
    }

    /// Read-modify-write under an exclusive `flock` on `PATH.lock`: `transform` gets the
    /// current contents (nil when the file does not exist) and returns the new contents,
    /// which are written atomically. Processes updating one file this way (two REPLs
    /// appending to one history) never lose each other's changes.
    public static func update(_ path: String, _ transform: (Data?) throws -> Data) throws {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CoreError("\(lockPath): cannot open lock file (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }   // closing releases the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw CoreError("\(lockPath): cannot lock (\(String(cString: strerror(errno))))")
            }
        }
        let old = FileManager.default.contents(atPath: path)
        try write(try transform(old), to: path)
    }
}
