import Foundation
import VLSFiles

/// A labelled image folder: ImageNet layout (one sub-folder per class) or a `labels.csv`.
///
/// Listing walks the folder once and keeps only paths and labels; images are decoded
/// lazily, one at a time, by `image(at:)`. In the ImageNet layout (torchvision
/// `ImageFolder`), classes are the sorted sub-folder names and each class's files are
/// found recursively and sorted by path. With a `labels.csv` in the folder (rows
/// `path,label`, an optional `path,label` header, paths relative to the folder), classes
/// are the sorted distinct labels (numerically when every label is an integer).
/// Only `.png`, `.jpg` and `.jpeg` files (any case) are listed.
public struct ImageFolder: Sendable {
    /// One listed image.
    public struct Entry: Equatable, Sendable {
        /// Absolute or root-relative path of the image file.
        public let path: String
        /// Index into `classes`.
        public let label: Int
    }

    /// The folder.
    public let root: String
    /// Class names, sorted; labels index into this.
    public let classes: [String]
    /// Every image, in class order then path order (ImageNet layout) or file order (CSV).
    public let entries: [Entry]

    /// File extensions that are listed.
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Lists `root`; uses `root/labels.csv` when present, otherwise sub-folders.
    public init(path root: String) throws(ImagingError) {
        // A folder that cannot be examined (a symlink loop, no permission) says why; it is
        // never "no such folder". The same for labels.csv: one that cannot be read is an
        // error, never a reason to fall back to the sub-folders.
        func status(_ path: String, _ what: String) throws(ImagingError) -> stat? {
            do { return try Files.status(path) } catch let e as FileError {
                throw ImagingError.file(path, e.reason, what: what)
            } catch { throw ImagingError.file(path, "\(error)", what: what) }
        }
        guard let st = try status(root, "cannot read image folder") else {
            throw ImagingError.file(root, "no such folder", what: "cannot read image folder")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw ImagingError.file(root, "not a folder", what: "cannot read image folder")
        }
        self.root = root
        let csv = root + "/labels.csv"
        let names: [String]
        if try status(csv, "cannot read labels file") != nil {
            (names, entries) = try ImageFolder.listCSV(csv, root: root)
        } else {
            (names, entries) = try ImageFolder.listSubfolders(root)
        }
        classes = names.map(escapingControlCharacters)   // names reach the terminal
        if entries.isEmpty {
            throw ImagingError.file(root, "holds no .png or .jpg images", what: "cannot read image folder")
        }
    }

    /// Number of images.
    public var count: Int { entries.count }

    /// Decodes image i (errors name the file).
    public func image(at i: Int) throws(ImagingError) -> Image {
        guard i >= 0, i < entries.count else {
            throw ImagingError.file(root, "image index \(i) out of range 0..<\(entries.count)", what: "image folder")
        }
        return try Image(contentsOf: entries[i].path)
    }

    /// ImageNet layout: sorted class folders, recursive sorted files.
    static func listSubfolders(_ root: String) throws(ImagingError) -> ([String], [Entry]) {
        let fm = FileManager.default
        let names: [String]
        do {
            names = try Files.listFolder(root)
        } catch let e as FileError {
            throw ImagingError.file(root, e.reason, what: "cannot read image folder")
        } catch {
            throw ImagingError.file(root, "\(error)", what: "cannot read image folder")
        }
        let classes = names.filter { name in
            var dir: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: root + "/" + name, isDirectory: &dir) && dir.boolValue
        }.sorted()
        var entries: [Entry] = []
        for (label, name) in classes.enumerated() {
            let dir = root + "/" + name
            let files = (fm.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? [])
                .filter { extensions.contains(String(($0.split(separator: "/").last ?? "").split(separator: ".", omittingEmptySubsequences: false).dropFirst().last ?? "").lowercased()) }
                .sorted()
            entries += files.map { Entry(path: dir + "/" + $0, label: label) }
        }
        return (classes, entries)
    }

    /// `labels.csv`: `path,label` rows.
    static func listCSV(_ csv: String, root: String) throws(ImagingError) -> ([String], [Entry]) {
        let bytes = try readFileBytes(csv, what: "cannot read labels file")
        let text = String(decoding: bytes, as: UTF8.self)
        var rows: [(String, String)] = []
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let fields = splitCSVLine(line)
            guard fields.count == 2 else {
                throw ImagingError.file(csv, "line \(number + 1): expected 'path,label', got \(fields.count) fields",
                                        what: "cannot read labels file")
            }
            if number == 0 && fields[0].lowercased() == "path" && fields[1].lowercased() == "label" { continue }
            rows.append((fields[0], fields[1]))
        }
        let distinct = Set(rows.map(\.1))
        let numeric = distinct.allSatisfy { Int($0) != nil }
        let classes = numeric ? distinct.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) } : distinct.sorted()
        var index: [String: Int] = [:]
        for (i, c) in classes.enumerated() { index[c] = i }
        let entries = rows.map { row in
            Entry(path: row.0.hasPrefix("/") ? row.0 : root + "/" + row.0, label: index[row.1] ?? 0)
        }
        return (classes, entries)
    }

    /// Splits one CSV line on commas, honouring double-quoted fields.
    static func splitCSVLine(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var previousQuote = false
        for ch in line {
            if ch == "\"" {
                if quoted && previousQuote { current.append("\""); previousQuote = false; continue }
                quoted.toggle()
                previousQuote = !quoted
                continue
            }
            previousQuote = false
            if ch == "," && !quoted {
                fields.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(ch)
            }
        }
        fields.append(current.trimmingCharacters(in: .whitespaces))
        return fields
    }
}
