/// Methods of lists, dictionaries, strings and ranges (`xs.append(1)`, `d.get(k)`,
/// `s.split()`), declared once each in a `Members` table with Python's meaning.
enum Methods {
    static func memberNames(of v: Value) -> [String] {
        switch v {
        case .list: return list.names
        case .dict: return dict.names
        case .string: return string.names
        case .range: return range.names
        case .float32: return float32.names
        case .object(let o): return o.memberNames
        default: return []
        }
    }

    /// Help of `recv.name`, from the declaration.
    static func help(of v: Value, _ name: String) -> String? {
        switch v {
        case .list: return list.help(name)
        case .dict: return dict.help(name)
        case .string: return string.help(name)
        case .range: return range.help(name)
        case .float32: return float32.help(name)
        default: return nil
        }
    }

    /// The keyword names of `recv.name(` (completion).
    static func keywordNames(of v: Value, _ name: String) -> [String]? {
        switch v {
        case .list: return list.keywordNames(name)
        case .dict: return dict.keywordNames(name)
        case .string: return string.keywordNames(name)
        default: return nil
        }
    }

    /// `xs.append` as a value (a bound native) or a property (`r.start`).
    static func member(_ v: Value, _ name: String, _ interp: Interpreter) throws -> Value? {
        switch v {
        case .list(let l): return try list.get(l, name, interp)
        case .dict(let d): return try dict.get(d, name, interp)
        case .string(let s): return try string.get(s, name, interp)
        case .range(let r): return try range.get(r, name, interp)
        case .float32(let f): return try float32.get(f, name, interp)
        default: return nil
        }
    }

    static func call(_ recv: Value, _ name: String, _ positional: [Value], _ keywords: [(String, Value)], _ interp: Interpreter) throws -> Value {
        let r: Value?
        switch recv {
        case .list(let l): r = try list.call(l, name, positional, keywords, interp)
        case .dict(let d): r = try dict.call(d, name, positional, keywords, interp)
        case .string(let s): r = try string.call(s, name, positional, keywords, interp)
        case .float32(let f): r = try float32.call(f, name, positional, keywords, interp)
        default: r = nil
        }
        if let r { return r }
        throw RuntimeError(Ops.noMember(recv, name))
    }

    static func checkSize(_ count: Int, _ what: String) throws {
        if count > Interrupt.maxCollectionBytes / MemoryLayout<Value>.stride {
            throw RuntimeError("\(what): result too large (over \(Interrupt.maxCollectionBytes) bytes)")
        }
    }

    static func checkStringSize(_ bytes: Int, _ what: String) throws {
        if bytes > Interrupt.maxCollectionBytes { throw RuntimeError("\(what): result too large (over \(Interrupt.maxCollectionBytes) bytes)") }
    }

    // MARK: - list

    static let list = Members<ListRef>("list")
        .method("xs.append(item)", "Adds item at the end.") { l, a in
            l.items.append(try a.value(0, "item"))
            return .nil
        }
        .method("xs.pop(index: int = -1)", "Removes and returns the item at index (the last by default).") { l, a in
            if l.items.isEmpty { throw RuntimeError("pop from empty list") }
            let i = try Ops.normalize(try a.int(0, "index"), l.items.count, "pop")
            return l.items.remove(at: i)
        }
        .method("xs.extend(items: iterable)", "Appends every item of an iterable.") { l, a in
            let more = try Ops.toArray(try a.value(0, "items"), a.interpreter)
            try checkSize(l.items.count + more.count, "list.extend")
            l.items.append(contentsOf: more)
            return .nil
        }
        .method("xs.insert(index: int, item)", "Inserts item before index (clamped to the list, as Python does).") { l, a in
            let i = try a.int(0, "index")
            let v = try a.value(1, "item")
            let n = l.items.count
            try checkSize(n + 1, "list.insert")
            l.items.insert(v, at: i < 0 ? max(i + n, 0) : min(i, n))
            return .nil
        }
        .method("xs.index(item, start: int = 0, stop: int = nil)", "The index of the first item equal to item from start (error if absent).") { l, a in
            let v = try a.value(0, "item")
            let (lo, hi) = try bounds(a, l.items.count)
            if lo < hi, let i = try l.items[lo..<hi].firstIndex(where: { try Ops.equalChecked($0, v) }) { return .int(i) }
            throw RuntimeError("\(Format.reprExcerpt(v)) is not in list")
        }
        .method("xs.remove(item)", "Removes the first item equal to item (error if absent).") { l, a in
            let v = try a.value(0, "item")
            if let i = try l.items.firstIndex(where: { try Ops.equalChecked($0, v) }) { l.items.remove(at: i); return .nil }
            throw RuntimeError("list.remove(x): \(Format.reprExcerpt(v)) is not in list")
        }
        .method("xs.count(item)", "How many items equal item.") { l, a in
            let v = try a.value(0, "item")
            return .int(try l.items.filter { try Ops.equalChecked($0, v) }.count)
        }
        .method("xs.reverse()", "Reverses the list in place.") { l, _ in
            l.items.reverse()
            return .nil
        }
        .method("xs.sort(*, key: function = nil, reverse: bool = false)", "Sorts the list in place (stable).") { l, a in
            let items = l.items
            l.items = try CoreBuiltins.sortValues(items, key: a.keyword("key"), reverse: a.bool(nil, "reverse", default: false), a.interpreter)
            return .nil
        }
        .method("xs.copy()", "A shallow copy.") { l, _ in .list(ListRef(l.items)) }
        .method("xs.clear()", "Removes every item.") { l, _ in l.items.removeAll(); return .nil }

    /// Python's start/stop of `index`, clamped to the sequence.
    static func bounds(_ a: Arguments, _ n: Int) throws -> (Int, Int) {
        func clamp(_ i: Int) -> Int { i < 0 ? max(i + n, 0) : min(i, n) }
        let lo = clamp(try a.int(nil, "start", default: 0))
        let hi = a.optional(nil, "stop") == nil ? n : clamp(try a.int(nil, "stop"))
        return (lo, hi)
    }

    // MARK: - dict

    static let dict = Members<DictRef>("dict")
        .method("d.keys()", "The keys, in insertion order.") { d, _ in .list(ListRef(d.keys)) }
        .method("d.values()", "The values, in insertion order.") { d, _ in .list(ListRef(d.values)) }
        .method("d.items()", "[key, value] pairs: `for k, v in d.items():`.") { d, _ in
            .list(ListRef(zip(d.keys, d.values).map { .list(ListRef([$0.0, $0.1])) }))
        }
        .method("d.get(key, default = nil, /)", "The value of key, or default when absent.") { d, a in
            let k = try a.value(0, "key")
            try Ops.checkHashable(k)
            return d[k] ?? a.optional(1, "default") ?? .nil
        }
        .method("d.pop(key, default = nil, /)", "Removes key and returns its value (or default; error if absent without one).") { d, a in
            let k = try a.value(0, "key")
            try Ops.checkHashable(k)
            if let v = d[k] { d[k] = nil; return v }
            if a.count > 1 { return a.positional[1] }
            throw RuntimeError("key \(Format.reprExcerpt(k)) not found in dict")
        }
        .method("d.setdefault(key, default = nil, /)", "The value of key; when absent, sets it to default first.") { d, a in
            let k = try a.value(0, "key")
            try Ops.checkHashable(k)
            if let v = d[k] { return v }
            let v = a.optional(1, "default") ?? .nil
            d[k] = v
            return v
        }
        .method("d.copy()", "A shallow copy.") { d, _ in
            let c = DictRef()
            for (i, k) in d.keys.enumerated() { c[k] = d.values[i] }
            return .dict(c)
        }
        .method("d.update(other: dict|iterable = nil, /, **entries)", "Copies every entry of another dict, or of a list of [key, value] pairs (and the keyword entries), into this one.") { d, a in
            if case .dict(let other)? = a.optional(0, "other") {
                let (ks, vs) = (other.keys, other.values)
                for (i, k) in ks.enumerated() { d[k] = vs[i] }
            } else if let other = a.optional(0, "other") {
                for (n, p) in try Ops.toArray(other, a.interpreter).enumerated() {
                    let kv = try Ops.toArray(p, a.interpreter)
                    guard kv.count == 2 else { throw RuntimeError("dictionary update sequence element #\(n) has length \(kv.count); 2 is required") }
                    try Ops.checkHashable(kv[0])
                    d[kv[0]] = kv[1]
                }
            }
            for (k, v) in a.keywords { d[.string(k)] = v }
            return .nil
        }
        .method("d.clear()", "Removes every entry.") { d, _ in d.removeAll(); return .nil }

    // MARK: - string

    static let string = Members<String>("string")
        .method("s.split(sep: string = nil, maxsplit: int = -1)", "Pieces between separators; without sep, splits on runs of whitespace (dropping empty pieces). At most maxsplit splits when it is not -1.") { s, a in
            let maxsplit = try a.int(nil, "maxsplit", default: -1)
            if let sepValue = a.optional(0, "sep"), case .string(let sep) = sepValue {
                if sep.isEmpty { throw RuntimeError("empty separator") }
                var parts: [Value] = []
                var rest = Substring(s)
                while maxsplit < 0 || parts.count < maxsplit, let r = rest.firstRange(of: sep) {
                    parts.append(.string(String(rest[..<r.lowerBound])))
                    rest = rest[r.upperBound...]
                }
                parts.append(.string(String(rest)))
                return .list(ListRef(parts))
            }
            var parts: [Value] = []
            var rest = Substring(s).drop(while: { $0.isWhitespace })
            while !rest.isEmpty {
                if maxsplit >= 0 && parts.count == maxsplit { parts.append(.string(String(rest))); break }
                let word = rest.prefix(while: { !$0.isWhitespace })
                parts.append(.string(String(word)))
                rest = rest[word.endIndex...].drop(while: { $0.isWhitespace })
            }
            return .list(ListRef(parts))
        }
        .method("sep.join(items: iterable)", "The strings of items joined by sep.") { s, a in
            let items = try Ops.toArray(try a.value(0, "items"), a.interpreter)
            var parts: [String] = []
            var bytes = 0
            for (i, v) in items.enumerated() {
                guard case .string(let x) = v else { throw RuntimeError("'join' expects strings; item \(i) is \(v.typeName)") }
                bytes += x.utf8.count + s.utf8.count
                try checkStringSize(bytes, "string.join")
                parts.append(x)
            }
            return .string(parts.joined(separator: s))
        }
        .method("s.strip(chars: string = nil)", "Without leading and trailing whitespace (or the characters of chars).") { s, a in
            let set = try a.optional(0, "chars").map { _ in Set(try a.string(0, "chars")) }
            let isStripped: (Character) -> Bool = { c in set.map { $0.contains(c) } ?? c.isWhitespace }
            return .string(String(Substring(s).drop(while: isStripped).reversed().drop(while: isStripped).reversed()))
        }
        .method("s.lstrip(chars: string = nil)", "Without leading whitespace (or the characters of chars).") { s, a in
            let set = try a.optional(0, "chars").map { _ in Set(try a.string(0, "chars")) }
            return .string(String(s.drop(while: { c in set.map { $0.contains(c) } ?? c.isWhitespace })))
        }
        .method("s.rstrip(chars: string = nil)", "Without trailing whitespace (or the characters of chars).") { s, a in
            let set = try a.optional(0, "chars").map { _ in Set(try a.string(0, "chars")) }
            var t = Substring(s)
            while let l = t.last, set.map({ $0.contains(l) }) ?? l.isWhitespace { t.removeLast() }
            return .string(String(t))
        }
        .method("s.upper()", "In upper case.") { s, _ in .string(s.uppercased()) }
        .method("s.lower()", "In lower case.") { s, _ in .string(s.lowercased()) }
        .method("s.title()", "Each word capitalised (a word: a run of letters).") { s, _ in
            var out = ""
            var prevLetter = false
            for c in s {
                out += prevLetter ? c.lowercased() : c.uppercased()
                prevLetter = c.isLetter
            }
            return .string(out)
        }
        .method("s.capitalize()", "The first character upper case, the rest lower case.") { s, _ in
            .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        }
        .method("s.replace(old: string, new: string, count: int = -1)", "Occurrences of old replaced by new (the first count of them when count is not -1).") { s, a in
            let old = try a.string(0, "old"), new = try a.string(1, "new")
            let count = try a.int(2, "count", default: -1)
            var out = ""
            var n = 0
            if old.isEmpty {
                // Python inserts `new` before every character and at the end.
                for c in s {
                    if count < 0 || n < count { out += new; n += 1 }
                    out.append(c)
                    try checkStringSize(out.utf8.count, "string.replace")
                }
                if count < 0 || n < count { out += new }
                return .string(out)
            }
            var rest = Substring(s)
            while count < 0 || n < count, let r = rest.firstRange(of: old) {
                out += rest[..<r.lowerBound]
                out += new
                n += 1
                try checkStringSize(out.utf8.count, "string.replace")
                rest = rest[r.upperBound...]
            }
            out += rest
            try checkStringSize(out.utf8.count, "string.replace")
            return .string(out)
        }
        .method("s.startswith(prefix: string|list[string], start: int = nil, end: int = nil)", "Whether s[start:end] begins with prefix (or with any of a list of prefixes).") { s, a in
            .bool(try affixMatch(s, a, "prefix") { $0.hasPrefix($1) })
        }
        .method("s.endswith(suffix: string|list[string], start: int = nil, end: int = nil)", "Whether s[start:end] ends with suffix (or with any of a list of suffixes).") { s, a in
            .bool(try affixMatch(s, a, "suffix") { $0.hasSuffix($1) })
        }
        .method("s.find(sub: string, start: int = nil, end: int = nil)", "The index of the first occurrence of sub in s[start:end], or -1.") { s, a in
            .int(try search(s, a, last: false) ?? -1)
        }
        .method("s.rfind(sub: string, start: int = nil, end: int = nil)", "The index of the last occurrence of sub in s[start:end], or -1.") { s, a in
            .int(try search(s, a, last: true) ?? -1)
        }
        .method("s.index(sub: string, start: int = nil, end: int = nil)", "The index of the first occurrence of sub in s[start:end] (error if absent).") { s, a in
            guard let i = try search(s, a, last: false) else { throw RuntimeError("substring not found") }
            return .int(i)
        }
        .method("s.count(sub: string, start: int = nil, end: int = nil)", "How many non-overlapping occurrences of sub in s[start:end].") { s, a in
            let chars = Array(s)
            let (lo, hi) = try window(a, chars.count)
            let sub = Array(try a.string(0, "sub"))
            if lo > hi { return .int(0) }
            if sub.isEmpty { return .int(hi - lo + 1) }
            var n = 0, i = lo
            while i + sub.count <= hi {
                if Array(chars[i..<(i + sub.count)]) == sub { n += 1; i += sub.count } else { i += 1 }
            }
            return .int(n)
        }
        .method("s.format(*values, **names)", "Replaces {} / {0} / {name} (with an optional :spec, as in \"{x:.3f}\") in s; write literal braces {{ }}.") { s, a in
            try formatString(s, a)
        }
        .method("s.splitlines()", "The lines of s (without their line ends; no empty last line for a trailing newline).") { s, _ in
            var lines = s.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
            if lines.last == "" { lines.removeLast() }
            return .list(ListRef(lines.map { .string($0.hasSuffix("\r") ? String($0.dropLast()) : $0) }))
        }
        .method("s.isdigit()", "Whether s is non-empty and all ASCII digits.") { s, _ in .bool(!s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber }) }
        .method("s.isalpha()", "Whether s is non-empty and all letters.") { s, _ in .bool(!s.isEmpty && s.allSatisfy(\.isLetter)) }
        .method("s.isspace()", "Whether s is non-empty and all whitespace.") { s, _ in .bool(!s.isEmpty && s.allSatisfy(\.isWhitespace)) }
        .method("s.isupper()", "Whether s has cased characters and all are upper case.") { s, _ in
            .bool(s.contains { $0.isCased } && !s.contains { $0.isLowercase })
        }
        .method("s.islower()", "Whether s has cased characters and all are lower case.") { s, _ in
            .bool(s.contains { $0.isCased } && !s.contains { $0.isUppercase })
        }
        .method("s.zfill(width: int)", "s padded with zeros on the left (after a sign) to width characters.") { s, a in
            let w = try a.int(0, "width")
            try checkStringSize(w, "string.zfill")
            guard s.count < w else { return .string(s) }
            let pad = String(repeating: "0", count: w - s.count)
            if let f = s.first, f == "-" || f == "+" { return .string(String(f) + pad + s.dropFirst()) }
            return .string(pad + s)
        }
        .method("s.ljust(width: int, fill: string = \" \")", "s padded on the right to width characters.") { s, a in
            .string(s + (try padding(s, a)))
        }
        .method("s.rjust(width: int, fill: string = \" \")", "s padded on the left to width characters.") { s, a in
            .string((try padding(s, a)) + s)
        }

    /// Python's clamped start/end of a string method (in characters).
    static func window(_ a: Arguments, _ n: Int) throws -> (Int, Int) {
        func clamp(_ i: Int) -> Int { i < 0 ? max(i + n, 0) : min(i, n) }
        let lo = a.optional(nil, "start") == nil ? 0 : clamp(try a.int(nil, "start"))
        let hi = a.optional(nil, "end") == nil ? n : clamp(try a.int(nil, "end"))
        if let st = a.optional(nil, "start"), case .int(let i) = st, i > n { return (i, n) }
        return (lo, hi)
    }

    /// find/rfind/index: the character index of sub within s[start:end].
    static func search(_ s: String, _ a: Arguments, last: Bool) throws -> Int? {
        let chars = Array(s)
        let sub = Array(try a.string(0, "sub"))
        let (lo, hi) = try window(a, chars.count)
        guard lo <= hi, hi - lo >= sub.count else { return nil }
        let starts = Array(lo...(hi - sub.count))
        for i in (last ? starts.reversed() : starts) where sub.isEmpty || Array(chars[i..<(i + sub.count)]) == sub { return i }
        return nil
    }

    /// startswith / endswith: whether s[start:end] matches any of the affixes.
    static func affixMatch(_ s: String, _ a: Arguments, _ name: String, _ matches: (String, String) -> Bool) throws -> Bool {
        let chars = Array(s)
        let (lo, hi) = try window(a, chars.count)
        if lo > chars.count { return false }
        let part = lo <= hi ? String(chars[lo..<hi]) : ""
        let affixes: [String]
        switch try a.value(0, name) {
        case .string(let x): affixes = [x]
        case .list(let l): affixes = l.items.compactMap { if case .string(let x) = $0 { return x }; return nil }
        default: affixes = []
        }
        return affixes.contains { matches(part, $0) }
    }

    static func padding(_ s: String, _ a: Arguments) throws -> String {
        let w = try a.int(0, "width")
        let fill = try a.string(1, "fill")
        guard fill.count == 1 else { throw RuntimeError("the fill character must be exactly one character long") }
        try checkStringSize(w, "padding")
        return String(repeating: fill, count: max(0, w - s.count))
    }

    /// Python's str.format for {}, {0}, {name}, {x:spec} and {{ }}.
    static func formatString(_ s: String, _ a: Arguments) throws -> Value {
        var out = ""
        var next = 0
        var chars = s.makeIterator()
        func argument(_ field: String) throws -> Value {
            if field.isEmpty {
                defer { next += 1 }
                guard next < a.positional.count else { throw RuntimeError("format: replacement index \(next) out of range for \(a.positional.count) positional argument\(a.positional.count == 1 ? "" : "s")") }
                return a.positional[next]
            }
            if let k = Int(field) {
                guard k >= 0, k < a.positional.count else { throw RuntimeError("format: replacement index \(k) out of range for \(a.positional.count) positional argument\(a.positional.count == 1 ? "" : "s")") }
                return a.positional[k]
            }
            guard let kv = a.keywords.last(where: { $0.0 == field }) else { throw RuntimeError("format: no argument named \(Format.quoteExcerpt(field))") }
            return kv.1
        }
        while let c = chars.next() {
            if c == "{" {
                var inner = ""
                var closed = false
                while let d = chars.next() {
                    if d == "{" && inner.isEmpty { break }
                    if d == "}" { closed = true; break }
                    inner.append(d)
                }
                if !closed && inner.isEmpty { out.append("{"); continue }
                guard closed else { throw RuntimeError("format: single '{' encountered in format string") }
                let parts = inner.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let v = try argument(String(parts[0]))
                out += parts.count > 1 ? try Format.apply(spec: String(parts[1]), to: v, a.interpreter) : a.interpreter.str(v)
            } else if c == "}" {
                guard chars.next() == "}" else { throw RuntimeError("format: single '}' encountered in format string") }
                out.append("}")
            } else {
                out.append(c)
            }
            try checkStringSize(out.utf8.count, "string.format")
        }
        return .string(out)
    }

    // MARK: - range

    /// numpy's np.float32 scalar (what indexing or reducing a tensor gives).
    static let float32 = Members<Float>("float32")
        .method("x.item()", "The value as a Python float (a double), as numpy's item().") { f, _ in .float(Double(f)) }
        .property("dtype", "\"float32\".") { _, _ in .string("float32") }

    static let range = Members<RangeRef>("range")
        .property("start", "The first value.") { r, _ in .int(r.start) }
        .property("stop", "The bound (not included).") { r, _ in .int(r.stop) }
        .property("step", "The difference between values.") { r, _ in .int(r.step) }
}

