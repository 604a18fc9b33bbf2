/// Methods of lists, dictionaries and strings (`xs.append(1)`, `d.get(k)`, `s.split()`).
enum Methods {
    static let listMethods = ["append", "pop", "extend", "insert", "index", "remove", "reverse", "sort", "copy", "count", "clear"]
    static let dictMethods = ["keys", "values", "items", "get", "pop", "copy", "update", "clear"]
    static let stringMethods = ["split", "join", "strip", "lstrip", "rstrip", "upper", "lower", "replace", "startswith",
                                "endswith", "find", "count", "format", "splitlines", "isdigit", "title"]

    static func memberNames(of v: Value) -> [String] {
        switch v {
        case .list: return listMethods
        case .dict: return dictMethods
        case .string: return stringMethods
        case .range: return ["start", "stop", "step"]
        case .object(let o): return o.memberNames
        default: return []
        }
    }

    /// Signature and docstring of each builtin method, for help(xs.append).
    static let docs: [String: (String, String)] = [
        "list.append": ("xs.append(item)", "Adds item at the end."),
        "list.pop": ("xs.pop(index = -1)", "Removes and returns the item at index (the last by default)."),
        "list.extend": ("xs.extend(items)", "Appends every item of an iterable."),
        "list.insert": ("xs.insert(index, item)", "Inserts item before index."),
        "list.index": ("xs.index(item)", "The index of the first item equal to item (error if absent)."),
        "list.remove": ("xs.remove(item)", "Removes the first item equal to item (error if absent)."),
        "list.reverse": ("xs.reverse()", "Reverses the list in place."),
        "list.sort": ("xs.sort(key: nil, reverse: false)", "Sorts the list in place (stable)."),
        "list.copy": ("xs.copy()", "A shallow copy."),
        "list.count": ("xs.count(item)", "How many items equal item."),
        "list.clear": ("xs.clear()", "Removes every item."),
        "dict.keys": ("d.keys()", "The keys, in insertion order."),
        "dict.values": ("d.values()", "The values, in insertion order."),
        "dict.items": ("d.items()", "[key, value] pairs: `for k, v in d.items():`."),
        "dict.get": ("d.get(key, default = nil)", "The value of key, or default when absent."),
        "dict.pop": ("d.pop(key, default)", "Removes key and returns its value (or default; error if absent without one)."),
        "dict.copy": ("d.copy()", "A shallow copy."),
        "dict.update": ("d.update(other)", "Copies every entry of another dict into this one."),
        "dict.clear": ("d.clear()", "Removes every entry."),
        "string.split": ("s.split(sep = nil)", "Pieces between separators; without sep, splits on runs of whitespace."),
        "string.join": ("sep.join(items)", "The strings of items joined by sep."),
        "string.strip": ("s.strip()", "Without leading and trailing whitespace."),
        "string.lstrip": ("s.lstrip()", "Without leading whitespace."),
        "string.rstrip": ("s.rstrip()", "Without trailing whitespace."),
        "string.upper": ("s.upper()", "In upper case."),
        "string.lower": ("s.lower()", "In lower case."),
        "string.title": ("s.title()", "Each word capitalised."),
        "string.replace": ("s.replace(old, new)", "Every occurrence of old replaced by new."),
        "string.startswith": ("s.startswith(prefix)", "Whether s begins with prefix."),
        "string.endswith": ("s.endswith(suffix)", "Whether s ends with suffix."),
        "string.find": ("s.find(sub)", "The index of the first occurrence of sub, or -1."),
        "string.count": ("s.count(sub)", "How many non-overlapping occurrences of sub."),
        "string.format": ("s.format(values...)", "Replaces {} / {0} / {name} in s (write them {{}} in a literal)."),
        "string.splitlines": ("s.splitlines()", "The lines of s."),
        "string.isdigit": ("s.isdigit()", "Whether s is non-empty and all ASCII digits."),
    ]

    /// `xs.append` as a value (a bound native).
    static func bound(_ v: Value, _ name: String, _ interp: Interpreter) -> NativeFunction? {
        guard memberNames(of: v).contains(name) else { return nil }
        let (signature, doc) = docs["\(v.typeName).\(name)"] ?? ("\(v.typeName).\(name)(...)", "")
        return NativeFunction(name: name, signature: signature, doc: doc, area: v.typeName) { args in
            try call(v, name, args)
        }
    }

    static func call(_ recv: Value, _ name: String, _ a: Arguments) throws -> Value {
        switch recv {
        case .list(let l): return try list(l, name, a)
        case .dict(let d): return try dict(d, name, a)
        case .string(let s): return try string(s, name, a)
        default: throw RuntimeError("no property '\(name)' on \(recv.typeName)")
        }
    }

    private static func list(_ l: ListRef, _ name: String, _ a: Arguments) throws -> Value {
        switch name {
        case "append":
            try a.expectAtMost(1)
            l.items.append(try a.value(0, "item"))
            return .nil
        case "pop":
            try a.expectAtMost(1)
            if l.items.isEmpty { throw RuntimeError("pop from empty list") }
            if let _ = a.optional(0, "index") {
                let i = try Ops.normalize(try a.int(0, "index"), l.items.count, "pop")
                return l.items.remove(at: i)
            }
            return l.items.removeLast()
        case "extend":
            try a.expectAtMost(1)
            l.items.append(contentsOf: try Ops.toArray(try a.value(0, "items"), a.interpreter))
            return .nil
        case "insert":
            try a.expectAtMost(2)
            let i = try a.int(0, "index")
            let v = try a.value(1, "item")
            let n = l.items.count
            l.items.insert(v, at: min(max(i < 0 ? i + n : i, 0), n))
            return .nil
        case "index":
            let v = try a.value(0, "item")
            if let i = l.items.firstIndex(where: { Ops.equal($0, v) }) { return .int(i) }
            throw RuntimeError("\(Format.repr(v)) is not in list")
        case "remove":
            let v = try a.value(0, "item")
            if let i = l.items.firstIndex(where: { Ops.equal($0, v) }) { l.items.remove(at: i); return .nil }
            throw RuntimeError("\(Format.repr(v)) is not in list")
        case "count":
            let v = try a.value(0, "item")
            return .int(l.items.filter { Ops.equal($0, v) }.count)
        case "reverse":
            l.items.reverse()
            return .nil
        case "sort":
            try a.expectKeywords(["key", "reverse"])
            l.items = try CoreBuiltins.sortValues(l.items, key: a.keyword("key"), reverse: a.bool(nil, "reverse", default: false), a.interpreter)
            return .nil
        case "copy": return .list(ListRef(l.items))
        case "clear": l.items.removeAll(); return .nil
        default: throw RuntimeError("no property '\(name)' on list")
        }
    }

    private static func dict(_ d: DictRef, _ name: String, _ a: Arguments) throws -> Value {
        switch name {
        case "keys": return .list(ListRef(d.keys))
        case "values": return .list(ListRef(d.values))
        case "items":
            return .list(ListRef(zip(d.keys, d.values).map { .list(ListRef([$0.0, $0.1])) }))
        case "get":
            let k = try a.value(0, "key")
            return d[k] ?? a.optional(1, "default") ?? .nil
        case "pop":
            let k = try a.value(0, "key")
            if let v = d[k] { d[k] = nil; return v }
            if let def = a.optional(1, "default") { return def }
            throw RuntimeError("key \(Format.repr(k)) not found in dict")
        case "copy":
            let c = DictRef()
            for (i, k) in d.keys.enumerated() { c[k] = d.values[i] }
            return .dict(c)
        case "update":
            guard case .dict(let other) = try a.value(0, "other") else {
                throw a.badArgument(0, "other", expected: "dict", got: try a.value(0, "other"))
            }
            for (i, k) in other.keys.enumerated() { d[k] = other.values[i] }
            return .nil
        case "clear": d.removeAll(); return .nil
        default: throw RuntimeError("no property '\(name)' on dict")
        }
    }

    private static func string(_ s: String, _ name: String, _ a: Arguments) throws -> Value {
        switch name {
        case "split":
            let sep = try a.optional(0, "sep").flatMap { v -> String? in
                if case .nil = v { return nil }
                guard case .string(let x) = v else { throw a.badArgument(0, "sep", expected: "string", got: v) }
                return x
            }
            if let sep {
                if sep.isEmpty { throw RuntimeError("empty separator") }
                return .list(ListRef(s.split(separator: sep, omittingEmptySubsequences: false).map { .string(String($0)) }))
            }
            return .list(ListRef(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) }))
        case "join":
            let items = try Ops.toArray(try a.value(0, "items"), a.interpreter)
            var parts: [String] = []
            for (i, v) in items.enumerated() {
                guard case .string(let x) = v else { throw RuntimeError("'join' expects strings; item \(i) is \(v.typeName)") }
                parts.append(x)
            }
            return .string(parts.joined(separator: s))
        case "strip": return .string(s.trimmingWhitespace())
        case "lstrip": return .string(String(s.drop(while: { $0.isWhitespace })))
        case "rstrip":
            var t = Substring(s)
            while let l = t.last, l.isWhitespace { t.removeLast() }
            return .string(String(t))
        case "upper": return .string(s.uppercased())
        case "lower": return .string(s.lowercased())
        case "title": return .string(s.split(separator: " ", omittingEmptySubsequences: false).map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined(separator: " "))
        case "replace":
            let old = try a.string(0, "old"), new = try a.string(1, "new")
            if old.isEmpty { throw RuntimeError("'replace' needs a non-empty string to replace") }
            return .string(s.replacing(old, with: new))
        case "startswith": return .bool(s.hasPrefix(try a.string(0, "prefix")))
        case "endswith": return .bool(s.hasSuffix(try a.string(0, "suffix")))
        case "find":
            let sub = try a.string(0, "sub")
            guard let r = s.firstRange(of: sub) else { return .int(-1) }
            return .int(s.distance(from: s.startIndex, to: r.lowerBound))
        case "count":
            let sub = try a.string(0, "sub")
            if sub.isEmpty { return .int(s.count + 1) }
            return .int(s.ranges(of: sub).count)
        case "splitlines":
            return .list(ListRef(s.split(separator: "\n", omittingEmptySubsequences: false).map { .string(String($0)) }))
        case "isdigit": return .bool(!s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber })
        case "format":
            var out = ""
            var next = 0
            var chars = s.makeIterator()
            while let c = chars.next() {
                if c == "{" {
                    var inner = ""
                    while let d = chars.next(), d != "}" { inner.append(d) }
                    let v: Value
                    if let k = Int(inner) { v = try a.value(k, "#\(k)") } else if inner.isEmpty { v = try a.value(next, "#\(next)"); next += 1 } else {
                        guard let kv = a.keyword(inner) else { throw RuntimeError("'format' has no argument '\(inner)'") }
                        v = kv
                    }
                    out += a.interpreter.str(v)
                } else {
                    out.append(c)
                }
            }
            return .string(out)
        default: throw RuntimeError("no property '\(name)' on string")
        }
    }
}
