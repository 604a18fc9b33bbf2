#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// No Foundation here: the language layer (which has none) writes through this too.

/// An error about one file, with a complete message naming it.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// The reason alone, without the file's name ("Permission denied", "is a folder, not a
    /// file"), for callers that name the file their own way.
    public let reason: String
    public init(_ message: String, reason: String? = nil) { self.message = message; self.reason = reason ?? message }
    public var description: String { message }
}

/// The one implementation of writing a file (every layer's writers call it): atomic
/// replacement, permissions, parent folders, and refusing to overwrite an input.
///
/// A write goes to a temporary file created by mkstemp(3) beside the target (O_EXCL, so a
/// symlink planted at the temporary name is refused, never followed), is flushed to disk,
/// given the replaced file's mode (or 0666 & ~umask for a new file, 0600 for a private
/// one), and renamed over the target. A kill, a crash or a full disk mid-write leaves the
/// old file whole (or no file), never a torn one. A target that is a symlink is followed,
/// as cp(1) does: the file it names is replaced in its own folder and the link stays; a
/// dangling link is refused.
public enum Files {
    /// Permissions of the written file.
    public enum Permissions: Sendable {
        /// The replaced file's mode; a new file gets 0666 & ~umask, as open(2) would give it.
        case standard
        /// Always 0600 (the REPL history).
        case privateFile
    }

    /// strerror(3) of `code`; a symlink loop (ELOOP) is named as one.
    public static func reason(_ code: Int32 = errno) -> String {
        code == ELOOP ? "a symlink loop (too many levels of symbolic links)" : String(cString: strerror(code))
    }

    /// The error of a failed `verb` ("read", "examine") of `path`: "PATH: cannot read
    /// (Permission denied)", or "PATH: a symlink loop (too many levels of symbolic links)".
    public static func failure(_ path: String, _ code: Int32, verb: String = "read") -> FileError {
        let why = code == ELOOP ? reason(code) : "cannot \(verb) (\(reason(code)))"
        return FileError("\(path): \(why)", reason: reason(code))
    }

    /// Writes `data` to `path` atomically. `inputs` are files the data was made from:
    /// when `path` names one of them (same device and inode), the write is refused so an
    /// input is never replaced by its own output.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, permissions: Permissions = .standard,
                                       inputs: [String] = []) throws {
        try bytes.withUnsafeBytes { try writeAtomically($0, to: path, permissions: permissions, inputs: inputs) }
    }

    public static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to path: String,
                                       permissions: Permissions = .standard, inputs: [String] = []) throws {
        func fail(_ what: String, _ code: Int32 = errno) -> FileError {
            FileError("\(path): cannot write (\(what): \(reason(code)))")
        }
        guard !path.isEmpty else { throw FileError("cannot write to an empty file name") }
        for input in inputs where sameFile(path, input) {
            throw FileError("\(path): refusing to overwrite the input '\(input)' with its own output (choose another output file)")
        }
        try createParentFolders(of: path)
        // A symlink is followed, as cp(1) does: the file it names is replaced, atomically in
        // that file's own folder, and the link stays a link (replacing the link with a file
        // cut it from its target). A dangling link is refused, as GNU cp refuses it.
        var target = path
        var old = stat()
        if lstat(path, &old) == 0 && (old.st_mode & S_IFMT) == S_IFLNK {
            guard let resolved = realpath(path, nil) else {
                let code = errno
                if code == ELOOP { throw FileError("\(path): cannot write through \(reason(code))") }
                if code == ENOENT {
                    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                    let n = readlink(path, &buf, buf.count - 1)
                    let to = n > 0 ? " to '\(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))'" : ""
                    throw FileError("\(path): cannot write (a dangling symlink\(to); vls writes through a symlink only to an existing file, as cp does)")
                }
                throw fail("cannot resolve the symlink", code)
            }
            target = String(cString: resolved)   // (an input behind the link was refused above: sameFile follows links)
            free(resolved)
        }
        var mode: mode_t
        if lstat(target, &old) == 0 {
            switch old.st_mode & S_IFMT {
            case S_IFREG: mode = old.st_mode & 0o7777
            case S_IFDIR: throw FileError("\(path): cannot write (it is a folder)")
            default: throw FileError("\(path): cannot write (not a regular file)")
            }
        } else {
            mode = 0o666 & ~currentUmask()
        }
        if permissions == .privateFile { mode = 0o600 }
        let (dir, name) = split(target)
        removeStaleTemporaries(folder: dir, target: name)
        // `.vls-tmp-HASH-XXXXXX`: 32 bytes whatever the target's name (a 254-byte name
        // plus a suffix passed NAME_MAX), recognisable as vls's, HASH tying it to its target.
        var template = Array(((dir.isEmpty ? "" : dir + "/") + temporaryPrefix(for: name) + "XXXXXX").utf8CString)
        // mkstemp(3) opens with O_CREAT | O_EXCL (mode 0600): a name that exists, a planted
        // symlink included, is never opened. (mkostemp is not exported to Swift by Glibc.)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw fail("cannot create a temporary file beside it") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        do {
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("write")
                }
                offset += n
            }
            guard fchmod(fd, mode) == 0 else { throw fail("fchmod") }
            guard fsync(fd) == 0 else { throw fail("fsync") }
        }
        guard rename(tmp, target) == 0 else { throw fail("rename") }
        ok = true
        // The rename itself reaches the disk with the folder.
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    // MARK: - Temporary files

    /// Every temporary file starts with this (then 16 hex digits of the target's name, a
    /// dash and mkstemp's six characters).
    public static let temporaryMarker = ".vls-tmp-"

    /// A temporary file older than this, not written to since, is a killed write's (a
    /// live write touches its file at every block it writes).
    public static let staleAge: Int = 15 * 60

    /// `.vls-tmp-HASH-` for a target file name (FNV-1a 64 of the name).
    public static func temporaryPrefix(for name: String) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        var hex = String(h, radix: 16)
        while hex.count < 16 { hex = "0" + hex }
        return temporaryMarker + hex + "-"
    }

    nonisolated(unsafe) private static var staleByFolder: [String: [String]] = [:]   // folder -> stale temporary names found
    private static let staleLock = Mutex()

    /// A write killed by SIGKILL (or a power cut) leaves its temporary file behind. A later
    /// write to the same target removes those of its own that are stale: regular files,
    /// owned by this user, named `temporaryPrefix(for: target)` + six characters, untouched
    /// for `staleAge` seconds. The folder is listed once per process (the stale names of
    /// every target are kept for their own later writes), so writing many files into one
    /// folder stays linear. Failures are ignored: this is housekeeping, never an error.
    static func removeStaleTemporaries(folder: String, target: String) {
        let dir = folder.isEmpty ? "." : folder
        staleLock.lock()
        defer { staleLock.unlock() }
        if staleByFolder[dir] == nil {
            var found: [String] = []
            if let d = opendir(dir) {
                while let e = readdir(d) {
                    let n = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
                    if n.hasPrefix(temporaryMarker) || n.hasPrefix(".") && n.contains(".tmp-") { found.append(n) }
                }
                closedir(d)
            }
            staleByFolder[dir] = found
        }
        let prefix = temporaryPrefix(for: target), legacy = "." + target + ".tmp-"
        var kept: [String] = []
        for n in staleByFolder[dir] ?? [] {
            // Ours: this target's prefix and mkstemp's six characters (or the older
            // `.NAME.tmp-XXXXXX` form).
            guard n.utf8.count == prefix.utf8.count + 6 && n.hasPrefix(prefix) || n.utf8.count == legacy.utf8.count + 6 && n.hasPrefix(legacy) else {
                kept.append(n); continue
            }
            let full = dir + "/" + n
            var st = stat()
            guard lstat(full, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == getuid() else { continue }
            let age = Int(time(nil)) - Int(st.st_mtim.tv_sec)
            if age >= staleAge { unlink(full) } else { kept.append(n) }
        }
        staleByFolder[dir] = kept
    }

    /// Read-modify-write under an exclusive `flock` on `PATH.lock` (opened with O_NOFOLLOW,
    /// so a symlink planted there is refused): `transform` gets the current contents (nil
    /// when the file does not exist) and returns the new contents, written atomically.
    /// Processes updating one file this way (two REPLs appending to one history) never
    /// lose each other's changes.
    public static func update(_ path: String, permissions: Permissions = .standard,
                              _ transform: ([UInt8]?) throws -> [UInt8]) throws {
        let lockPath = path + ".lock"
        try createParentFolders(of: path)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw FileError("\(lockPath): cannot open lock file (\(reason()))")
        }
        defer { close(fd) }   // closing releases the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw FileError("\(lockPath): cannot lock (\(reason()))")
            }
        }
        let old = try readFile(path)
        try writeAtomically(try transform(old), to: path, permissions: permissions)
    }

    /// True when both paths exist and name one file (same device and inode, after symlinks).
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// Creates the missing folders above `path` (figures into out/, ...), reporting the
    /// real reason of a failure (EACCES as "Permission denied"). A path that goes back up
    /// with `..` through a folder that does not exist is refused instead of creating
    /// folders that the file will not be in (`a/../b/../x.npy`).
    public static func createParentFolders(of path: String) throws {
        let parent = split(path).folder
        if parent.isEmpty || isDirectory(parent) { return }
        let absolute = parent.hasPrefix("/")
        let parts = parent.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var prefix = absolute ? "" : "."
        var created: [String] = []
        func shown(_ p: String) -> String { p.hasPrefix("./") ? String(p.dropFirst(2)) : p }
        for (i, part) in parts.enumerated() {
            prefix += "/" + part
            if isDirectory(prefix) { continue }
            if parts[(i + 1)...].contains("..") || part == ".." {
                for c in created.reversed() { rmdir(c) }
                throw FileError("\(path): cannot write (folder '\(shown(prefix))' does not exist, and the path leaves it again with '..')")
            }
            var st = stat()
            if lstat(prefix, &st) == 0 {
                for c in created.reversed() { rmdir(c) }
                throw FileError("\(path): cannot write ('\(shown(prefix))' exists and is not a folder)")
            }
            if mkdir(prefix, 0o777) != 0 && errno != EEXIST {
                let code = errno
                for c in created.reversed() { rmdir(c) }
                throw FileError("\(path): cannot create folder '\(shown(prefix))' (\(reason(code)))")
            }
            created.append(prefix)
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The process's umask, read without changing it where /proc allows (umask(2) can
    /// only be read by setting it, which would race with other threads creating files).
    static func currentUmask() -> mode_t {
        if let bytes = try? readFile("/proc/self/status") {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Umask:") {
                if let m = mode_t(line.dropFirst(6).filter { $0 != " " && $0 != "\t" }, radix: 8) { return m }
            }
        }
        let m = umask(0o022)
        umask(m)
        return m
    }

    /// The folder part ("" for a bare name; "/" kept for the root) and the last component.
    public static func split(_ path: String) -> (folder: String, name: String) {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return ("", String(p)) }
        let folder = p[..<slash]
        return (folder.isEmpty ? "/" : String(folder), String(p[p.index(after: slash)...]))
    }

    /// stat(2) of `path` after symlinks; nil when nothing is there (ENOENT, ENOTDIR). A
    /// dangling symlink, a symlink loop and every other failure throw a `FileError` whose
    /// `reason` says why (strerror: "Too many levels of symbolic links", "Permission
    /// denied"): a path that cannot be examined is never taken for an absent one.
    public static func status(_ path: String) throws -> stat? {
        var st = stat()
        if stat(path, &st) == 0 { return st }
        let code = errno
        func fail(_ why: String) -> FileError { FileError("\(path): \(why)", reason: why) }
        var link = stat()
        if code == ENOENT && lstat(path, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK {
            throw fail("a dangling symlink (its target does not exist)")
        }
        if code == ENOENT || code == ENOTDIR { return nil }
        throw failure(path, code, verb: "examine")
    }

    /// The names in a folder (without "." and ".."), unsorted; a folder that cannot be
    /// opened throws a `FileError` saying why.
    public static func listFolder(_ path: String) throws -> [String] {
        guard let d = opendir(path) else {
            let why = "cannot list the folder (\(reason()))"
            throw FileError("\(path): \(why)", reason: why)
        }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let n = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if n != "." && n != ".." { names.append(n) }
        }
        return names
    }

    /// The whole file, or nil when it does not exist. The one reader of whole files (scripts,
    /// modules, `:load`, the history): a folder, FIFO or device is refused before reading
    /// (a FIFO would block forever), and every other failure names the file and the reason.
    public static func readFile(_ path: String) throws -> [UInt8]? { try readFile(path, streams: false) }

    /// As `readFile(_:)`; with `streams`, a pipe or character device (`vls run /dev/stdin`,
    /// `vls run <(make-script)`) is read to its end too: a script named on the command line,
    /// never a file found by name inside a folder (a FIFO named model.safetensors would block).
    public static func readFile(_ path: String, streams: Bool) throws -> [UInt8]? {
        func fail(_ why: String) -> FileError { FileError("\(path): \(why)", reason: why) }
        func failed(_ code: Int32 = errno) -> FileError { failure(path, code) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw failed()
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw failed() }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw fail("is a folder, not a file")
        case let kind where streams && (kind == S_IFIFO || kind == S_IFCHR):
            // blocking reads from here on: a pipe's writer may not have written yet
            let flags = fcntl(fd, F_GETFL)
            guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else { throw failed() }
        default: throw fail("not a regular file (a FIFO, socket or device)")
        }
        // the whole file is held in memory: a file larger than the memory cap is refused
        // before a byte is read (a sparse 40 GB file reserved 40 GB and aborted)
        if Int64(st.st_size) > Int64(MemoryCap.bytes) {
            throw fail("is \(st.st_size) bytes, more than the memory cap of \(MemoryCap.bytes) bytes (VLS_MAX_TENSOR_BYTES) for a file read whole")
        }
        var out: [UInt8] = []
        out.reserveCapacity(Int(max(0, st.st_size)))
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw failed()
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}

@inline(__always)
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}

/// A pthread mutex (no Foundation in this module).
private final class Mutex: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
}

/// Path arithmetic on strings, as POSIX dirname/basename do. NSString's path methods trap
/// on a one-character path ("a", ".") on Linux's Foundation (Swift 6.3), so vls never uses them.
public enum Paths {
    /// The folder part ("" for a bare name; "/" for a file in the root), trailing slashes ignored.
    public static func folder(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        if slash == p.startIndex { return "/" }
        var f = p[..<slash]
        while f.count > 1 && f.hasSuffix("/") { f = f.dropLast() }
        return String(f)
    }

    /// The last component, trailing slashes ignored ("/" for the root).
    public static func name(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/"), p.count > 1 else { return String(p) }
        return String(p[p.index(after: slash)...])
    }

    /// `folder` joined with `name` by one slash ("" or "." folder: the name alone stays relative).
    public static func join(_ folder: String, _ name: String) -> String {
        if folder.isEmpty { return name }
        return folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }
}
