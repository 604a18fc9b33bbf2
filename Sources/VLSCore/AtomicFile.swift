import Foundation
import VLSFiles

/// The core's file writes, through the one implementation in VLSFiles (`Files`):
/// a temporary file from mkostemp(3) beside the target, flushed, given the replaced
/// file's mode, renamed over it. Errors become `CoreError`s naming the file.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, permissions: Files.Permissions = .standard,
                             inputs: [String] = []) throws {
        do {
            try data.withUnsafeBytes { try Files.writeAtomically($0, to: path, permissions: permissions, inputs: inputs) }
        } catch let e as FileError {
            throw CoreError(e.message)
        }
    }

    /// Read-modify-write under an exclusive lock on `PATH.lock` (see `Files.update`).
    public static func update(_ path: String, permissions: Files.Permissions = .standard,
                              _ transform: (Data?) throws -> Data) throws {
        do {
            try Files.update(path, permissions: permissions) { old in
                [UInt8](try transform(old.map { Data($0) }))
            }
        } catch let e as FileError {
            throw CoreError(e.message)
        }
    }
}
