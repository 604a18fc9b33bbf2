import Foundation
import VLSCore

/// Appends `added` to the history file at `path`, keeping the last `limit` entries.
///
/// The file is re-read under an exclusive lock on `PATH.lock` and replaced atomically, so
/// two REPLs sharing one history lose neither's lines and a kill mid-write leaves the old
/// file whole. I/O errors are ignored (history is a convenience).
func appendHistory(_ added: [String], to path: String, limit: Int) {
    try? AtomicFile.update(path) { _ in
        let kept = (ReadlineReader.loadHistory(path) + added).suffix(limit)
        var text = "#vls-history v1\n"
        for e in kept { text += ReadlineReader.encode(e) + "\n" }
        return Data(text.utf8)
    }
}

/// Writes `text` to `path` through a temporary file and a rename; nil on success, else
/// the reason.
func writeAtomically(_ text: String, to path: String) -> String? {
    do {
        try AtomicFile.write(Data(text.utf8), to: path)
        return nil
    } catch {
        return "\(error)"
    }
}
