/// What the prompt knows about a value without running anything: completion after
/// `r["resid_post"].`, `m.run(x).`, inside `capture: ["` and inside a call's parentheses.
///
/// An expression is evaluated only when that has no side effects: a name in scope,
/// attribute access (properties are accessors), subscripts with a literal key (a string,
/// an int), and a call only when the session already made that very call (same source
/// text) and kept its result (`ResultCache`). Anything else (an operator, a call not made
/// before, a variable key) gives no value, hence no completions: never a guess.

/// Results of calls the session made, by normalised source text. Objects, lists and dicts
/// are held weakly (a cached run must not keep its activations alive); their member names
/// are kept, so completion after the call still works once the value is gone.
struct ResultCache {
    final class Entry {
        weak var object: AnyObject?
        let scalar: Value?
        let members: [String]
        init(_ v: Value) {
            members = Methods.memberNames(of: v)
            switch v {
            case .object(let o): object = o; scalar = nil
            case .list(let l): object = l; scalar = nil
            case .dict(let d): object = d; scalar = nil
            case .function, .native: object = nil; scalar = v
            default: object = nil; scalar = v
            }
        }
        var value: Value? {
            if let scalar { return scalar }
            switch object {
            case let o as VLSObject: return .object(o)
            case let l as ListRef: return .list(l)
            case let d as DictRef: return .dict(d)
            default: return nil
            }
        }
    }

    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    static let limit = 256

    /// Records the value of `text` if it contains a call (names and subscripts need no cache).
    mutating func record(_ text: String, _ value: Value) {
        let key = ValueAtPrompt.normalise(text)
        guard key.contains("("), !key.isEmpty else { return }
        if entries[key] == nil { order.append(key) }
        entries[key] = Entry(value)
        if order.count > ResultCache.limit { entries[order.removeFirst()] = nil }
    }

    func lookup(_ text: String) -> Entry? { entries[ValueAtPrompt.normalise(text)] }
}

struct ValueAtPrompt {
    let interpreter: Interpreter
    let cache: ResultCache

    static func isIdentifier(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, f == "_" || f.properties.isAlphabetic else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
    }

    static func isNameScalar(_ c: Character) -> Bool { c == "_" || c.isLetter || c.isNumber }

    /// Source text without whitespace outside string literals (`m.run( x )` = `m.run(x)`).
    static func normalise(_ text: String) -> String {
        var out = ""
        var quote: Character?
        var escaped = false
        for c in text {
            if let q = quote {
                out.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == q { quote = nil }
                continue
            }
            if c == "\"" || c == "'" { quote = c; out.append(c) } else if !c.isWhitespace { out.append(c) }
        }
        return out
    }

    /// For text ending in `expr.prefix` (prefix: name characters, maybe empty): the
    /// receiver's source and the prefix; nil when the text does not end so.
    static func memberContext(_ text: String) -> (String, String)? {
        let chars = Array(text)
        var i = chars.count
        while i > 0, isNameScalar(chars[i - 1]) { i -= 1 }
        guard i > 0, chars[i - 1] == "." else { return nil }
        let prefix = String(chars[i...])
        let dot = i - 1
        guard let start = expressionStart(chars, end: dot) else { return nil }
        let receiver = String(chars[start..<dot])
        guard !receiver.isEmpty, let first = receiver.first, first == "_" || first.isLetter else { return nil }
        return (receiver, prefix)
    }

    /// Scans back from `end` over one postfix expression: names, dots, balanced brackets
    /// and the string literals inside them. nil when the brackets do not balance.
    static func expressionStart(_ chars: [Character], end: Int) -> Int? {
        var i = end
        while i > 0 {
            let c = chars[i - 1]
            if isNameScalar(c) || c == "." { i -= 1; continue }
            if c == ")" || c == "]" {
                guard let open = matchingOpen(chars, close: i - 1) else { return nil }
                i = open
                continue
            }
            break
        }
        return i
    }

    /// The index of the bracket opening the one at `close`, skipping string literals.
    static func matchingOpen(_ chars: [Character], close: Int) -> Int? {
        var depth = 0
        var i = close
        while i >= 0 {
            let c = chars[i]
            if c == "\"" || c == "'" {
                // Back to the opening quote (escapes are rare in keys; a mismatch gives nil later).
                var j = i - 1
                while j >= 0, chars[j] != c { j -= 1 }
                guard j >= 0 else { return nil }
                i = j - 1
                continue
            }
            if c == ")" || c == "]" || c == "}" { depth += 1 }
            if c == "(" || c == "[" || c == "{" {
                depth -= 1
                if depth == 0 { return i }
            }
            i -= 1
        }
        return nil
    }

    /// Member names of the value of `source`, if it is known without side effects.
    func members(of source: String) -> [String]? {
        switch evaluate(source) {
        case .value(let v): return Methods.memberNames(of: v)
        case .membersOnly(let m): return m
        case .unknown: return nil
        }
    }

    enum Outcome { case value(Value), membersOnly([String]), unknown }

    /// Evaluates a postfix chain: NAME ( .NAME | [literal] | (cached call) )*.
    func evaluate(_ source: String) -> Outcome {
        let text = ValueAtPrompt.normalise(source)
        let chars = Array(text)
        var i = 0
        while i < chars.count, ValueAtPrompt.isNameScalar(chars[i]) { i += 1 }
        let name = String(chars[0..<i])
        guard ValueAtPrompt.isIdentifier(name), var v = interpreter.global(name) else { return .unknown }
        while i < chars.count {
            switch chars[i] {
            case ".":
                var j = i + 1
                while j < chars.count, ValueAtPrompt.isNameScalar(chars[j]) { j += 1 }
                let attr = String(chars[(i + 1)..<j])
                guard ValueAtPrompt.isIdentifier(attr), let next = try? Ops.getAttribute(v, attr, interpreter) else { return .unknown }
                v = next
                i = j
            case "[":
                guard let close = ValueAtPrompt.matchingClose(chars, open: i),
                      let key = ValueAtPrompt.literal(String(chars[(i + 1)..<close])) else { return .unknown }
                if case .object(let o) = v, let standIn = o.completionStandIn(forKey: key) {
                    v = standIn
                } else {
                    guard let next = try? Ops.getItem(v, [.value(key)], interpreter) else { return .unknown }
                    v = next
                }
                i = close + 1
            case "(":
                // A call: only its remembered result.
                guard let close = ValueAtPrompt.matchingClose(chars, open: i), let entry = cache.lookup(String(chars[0...close])) else { return .unknown }
                if let value = entry.value {
                    v = value
                } else {
                    return close + 1 == chars.count ? .membersOnly(entry.members) : .unknown
                }
                i = close + 1
            default:
                return .unknown
            }
        }
        return .value(v)
    }

    static func matchingClose(_ chars: [Character], open: Int) -> Int? {
        var depth = 0
        var quote: Character?
        var i = open
        while i < chars.count {
            let c = chars[i]
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if "([{".contains(c) { depth += 1 } else if ")]}".contains(c) {
                depth -= 1
                if depth == 0 { return i }
            }
            i += 1
        }
        return nil
    }

    /// A literal key: a quoted string without escapes, or an int.
    static func literal(_ s: String) -> Value? {
        if s.count >= 2, let q = s.first, q == "\"" || q == "'", s.last == q {
            let body = s.dropFirst().dropLast()
            guard !body.contains(q), !body.contains("\\") else { return nil }
            return .string(String(body))
        }
        if let n = Int(s) { return .int(n) }
        return nil
    }

    /// The innermost call whose parentheses are open at the end of `text`: the callee's
    /// source and the argument text so far.
    static func openCall(_ text: String) -> (callee: String, arguments: String)? {
        let chars = Array(text)
        var depth = 0
        var quote: Character?
        var opens: [(Int, Character)] = []
        for (i, c) in chars.enumerated() {
            if let q = quote { if c == q { quote = nil }; continue }
            if c == "\"" || c == "'" { quote = c; continue }
            if c == "#" { break }
            if "([{".contains(c) { opens.append((i, c)); depth += 1 }
            if ")]}".contains(c), !opens.isEmpty { opens.removeLast(); depth -= 1 }
        }
        guard let (open, kind) = opens.last, kind == "(", let start = expressionStart(chars, end: open), start < open else { return nil }
        let callee = String(chars[start..<open])
        guard let f = callee.first, f == "_" || f.isLetter else { return nil }
        return (callee, String(chars[(open + 1)...]))
    }

    /// Keyword names of the call open at the end of `before` (those not given yet), from
    /// the function's declaration; nil outside a call or when the callee is not known.
    func callKeywords(_ before: String) -> [String]? {
        guard let (callee, args) = ValueAtPrompt.openCall(before) else { return nil }
        guard case .value(let f) = evaluate(callee) else { return nil }
        let names: [String]
        switch f {
        case .native(let n): names = n.spec.signature.keywordNames
        case .function(let u): names = u.decl.params.map(\.name)
        default: return nil
        }
        let given = Set(ValueAtPrompt.givenKeywords(args))
        return names.filter { !given.contains($0) }
    }

    /// `name:` keywords already written in an argument list (outside nested brackets and strings).
    static func givenKeywords(_ args: String) -> [String] {
        var out: [String] = []
        var depth = 0
        var quote: Character?
        var current = ""
        for c in args {
            if let q = quote { if c == q { quote = nil }; continue }
            if c == "\"" || c == "'" { quote = c; current = ""; continue }
            if "([{".contains(c) { depth += 1; current = ""; continue }
            if ")]}".contains(c) { depth -= 1; current = ""; continue }
            if depth == 0, c == ":" {
                let t = current.trimmingWhitespace()
                if isIdentifier(t) { out.append(t) }
                current = ""
                continue
            }
            if c == "," { current = ""; continue }
            current.append(c)
        }
        return out
    }

    /// Inside an open string: the keys of `recv["` (a run's hooks), or the values for the
    /// keyword the string belongs to (`capture: ["a", "`), from the receiver object or,
    /// for a plain function, from the objects in scope. nil: not such a string.
    func stringCompletions(_ before: String) -> [String]? {
        // The opening quote of the open string.
        let chars = Array(before)
        var quote: Character?
        var openAt = -1
        for (i, c) in chars.enumerated() {
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c; openAt = i }
        }
        guard quote != nil, openAt >= 0 else { return nil }
        var k = openAt
        while k > 0, chars[k - 1] == " " { k -= 1 }
        guard k > 0 else { return nil }
        // recv["...: the receiver's subscript keys.
        if chars[k - 1] == "[", let start = ValueAtPrompt.expressionStart(chars, end: k - 1), start < k - 1 {
            let receiver = String(chars[start..<(k - 1)])
            if let f = receiver.first, f == "_" || f.isLetter {
                guard case .value(.object(let o)) = evaluate(receiver) else { return nil }
                let keys = o.subscriptKeys
                return keys.isEmpty ? nil : keys
            }
        }
        // keyword: "... or keyword: [..., "...: the keyword's values.
        var j = k
        if chars[j - 1] == "," || chars[j - 1] == "[" {
            // Back over the list's earlier items to its `[`.
            var depth = 0
            var q: Character?
            var m = j - 1
            while m >= 0 {
                let c = chars[m]
                if let qq = q { if c == qq { q = nil } } else if c == "\"" || c == "'" { q = c } else if c == "]" { depth += 1 } else if c == "[" {
                    if depth == 0 { break }
                    depth -= 1
                }
                m -= 1
            }
            guard m >= 0 else { return nil }
            j = m
            while j > 0, chars[j - 1] == " " { j -= 1 }
        }
        guard j > 0, chars[j - 1] == ":" else { return nil }
        var e = j - 1
        while e > 0, chars[e - 1] == " " { e -= 1 }
        var s = e
        while s > 0, ValueAtPrompt.isNameScalar(chars[s - 1]) { s -= 1 }
        let keyword = String(chars[s..<e])
        guard ValueAtPrompt.isIdentifier(keyword) else { return nil }
        guard let (callee, _) = ValueAtPrompt.openCall(String(chars[0..<s])) else { return nil }
        var receivers: [VLSObject] = []
        var method: String?
        if let dot = callee.lastIndex(of: "."), case .value(.object(let o)) = evaluate(String(callee[..<dot])) {
            receivers = [o]
            method = String(callee[callee.index(after: dot)...])
        } else {
            // A function: any object in scope that knows the keyword (the model passed to it).
            receivers = interpreter.globalNames().compactMap { name in
                if case .object(let o)? = interpreter.global(name) { return o } else { return nil }
            }
        }
        var out = Set<String>()
        for o in receivers { out.formUnion(o.stringCompletions(keyword: keyword, method: method)) }
        return out.isEmpty ? nil : Array(out)
    }
}
