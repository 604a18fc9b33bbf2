import Foundation
import VLSCore
import VLSLanguage

/// A results table: named columns, rows of numbers and strings. Prints aligned, indexes by
/// column name (a list) or row number (a dictionary), saves as CSV or JSON.
final class TableObject: DeclaredObject {
    let columns: [String]
    var rows: [[Value]]
    var title: String?
    /// The statistics of a mergeable analysis (Parts+Builtins.swift): `.save("x.json")` writes them.
    var part: Part?

    init(columns: [String], rows: [[Value]], title: String? = nil) {
        self.columns = columns
        self.rows = rows
        self.title = title
    }

    var typeName: String { "table" }
    func length() throws -> Int? { rows.count }

    static func cell(_ v: Value) -> String {
        switch v {
        case .float32(let f): return cell(.float(Double(f)))
        case .float(let d):
            if d.isNaN { return "nan" }
            if d == d.rounded() && abs(d) < 1e15 && !(abs(d) < 1 && d != 0) { return String(format: "%.4f", d) }
            return abs(d) >= 1e-3 || d == 0 ? String(format: "%.4f", d) : String(format: "%.3e", d)
        case .int(let i): return String(i)
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .nil: return "-"
        case .list(let l): return "[" + l.items.map(cell).joined(separator: ", ") + "]"
        default: return v.typeName
        }
    }

    func describe() -> String {
        let body = rows.map { $0.map(TableObject.cell) }
        var widths = columns.map(\.count)
        for r in body { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String], numericRight: Bool) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: max(0, widths[i] - c.count))
                let right = numericRight && Double(c) != nil
                return right ? pad + c : c + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out: [String] = []
        if let title { out.append(title) }
        out.append(line(columns, numericRight: false))
        out.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        let shown = rows.count > 60 ? Array(body.prefix(25)) + [columns.map { _ in "..." }] + Array(body.suffix(25)) : body
        out += shown.map { line($0, numericRight: true) }
        if rows.count > 60 { out.append("(\(rows.count) rows)") }
        return out.joined(separator: "\n")
    }

    static let members: Members<TableObject> = bridgedMembers("table")
        .property("columns", "The column names.") { o, _ in .strings(o.columns) }
        .property("rows", "The rows, as lists.") { o, _ in .list(o.rows.map { .list($0) }) }
        .property("title", "The title (nil when none).") { o, _ in o.title.map { .string($0) } ?? .nil }
        .method("table.column(name: string)", "The values of one column, as a list.") { o, a in
            try o.column(try a.string(0, "name"))
        }
        .method("table.save(path: string)", "Writes the table as CSV (.csv) or JSON (.json), atomically; the result of a mergeable analysis writes its part file as .json (for vls merge and load_part).") { o, a in
            try o.save(to: try a.string(0, "path"))
            return .nil
        }

    func column(_ name: String) throws -> Value {
        guard let i = columns.firstIndex(of: name) else {
            throw RuntimeError("table has no column '\(name)' (columns: \(columns.joined(separator: ", ")))")
        }
        return .list(rows.map { i < $0.count ? $0[i] : .nil })
    }

    func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value {
        guard items.count == 1 else { throw RuntimeError("table index takes one column name or row number") }
        switch items[0] {
        case .value(.string(let s)): return try column(s)
        case .value(.int(let i0)):
            let i = i0 < 0 ? i0 + rows.count : i0
            guard i >= 0, i < rows.count else { throw RuntimeError("row \(i0) out of range (table has \(rows.count) rows)") }
            return .dict(zip(columns, rows[i]).map { ($0, $1) })
        default: throw RuntimeError("table index must be a column name or a row number")
        }
    }

    func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)? {
        var i = 0
        return {
            guard i < self.rows.count else { return nil }
            defer { i += 1 }
            return .dict(zip(self.columns, self.rows[i]).map { ($0, $1) })
        }
    }

    func csv() -> String {
        func esc(_ s: String) -> String {
            s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func raw(_ v: Value) -> String {
            if case .float(let d) = v { return "\(d)" }
            if case .float32(let f) = v { return Value.float32Text(f) }
            return TableObject.cell(v)
        }
        return ([columns.map(esc).joined(separator: ",")] + rows.map { $0.map { esc(raw($0)) }.joined(separator: ",") }).joined(separator: "\n") + "\n"
    }

    func jsonObject() -> [[String: Any]] {
        func any(_ v: Value) -> Any {
            switch v {
            case .float(let d): return d.isFinite ? d : NSNull()
            case .float32(let f): return f.isFinite ? (Double(Value.float32Text(f)) ?? Double(f)) : NSNull()
            case .int(let i): return i
            case .string(let s): return s
            case .bool(let b): return b
            case .list(let l): return l.items.map(any)
            default: return NSNull()
            }
        }
        return rows.map { r in Dictionary(uniqueKeysWithValues: zip(columns, r.map(any))) }
    }

    func save(to path: String) throws {
        let data: Data
        if path.hasSuffix(".json"), let part {
            try PartFile.write(part, to: path)   // the mergeable part (vls merge, load_part)
            return
        } else if path.hasSuffix(".json") {
            data = try JSONSerialization.data(withJSONObject: jsonObject(), options: [.prettyPrinted, .sortedKeys])
        } else if path.hasSuffix(".csv") {
            data = Data(csv().utf8)
        } else {
            throw CoreError("\(path): tables save as .csv or .json")
        }
        try AtomicFile.write(data, to: path)
    }
}

/// Tables built by scripts (the Stdlib's drivers return them like the native ones).
func tableBuiltins(_ session: Session) -> [NativeFunction] {
    [
        native("table", "table(columns: list, rows: list, title: string = nil)", area: "data",
               "A results table from column names and rows (lists of numbers, strings, bools or nil, one value per column): prints aligned, indexes by column name or row number, saves as CSV or JSON.") { a in
            let columns = try a.list(0, "columns").map { v -> String in
                guard case .string(let s) = v else { throw a.badArgument(0, "columns", expected: "list of strings", got: v) }
                return s
            }
            let rows = try a.list(1, "rows").enumerated().map { i, v -> [Value] in
                guard case .list(let l) = v else { throw a.badArgument(1, "rows", expected: "list of lists", got: v) }
                guard l.items.count == columns.count else {
                    throw RuntimeError("table: row \(i) has \(l.items.count) values for \(columns.count) columns")
                }
                for item in l.items {
                    switch item {
                    case .int, .float, .float32, .string, .bool, .nil: break
                    default: throw RuntimeError("table: row \(i) holds a \(item.typeName); cells are numbers, strings, bools or nil")
                    }
                }
                return l.items
            }
            let title: String?
            if let t = a.optional(nil, "title"), case .string(let s) = t { title = s } else { title = nil }
            return .object(TableObject(columns: columns, rows: rows, title: title))
        },
    ]
}
