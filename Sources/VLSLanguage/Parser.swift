/// Recursive-descent parser with panic-mode recovery: a syntax error is recorded, the
/// parser skips to the next statement boundary, and carries on, so one run reports every
/// syntax error. Messages follow Lua: "expected ')' to close '(' at 3:7".
struct Parser {
    struct ParseError: Error { var message: String; var location: SourceLocation; var atEnd: Bool }

    private var tokens: [Token]
    private var current = 0
    private(set) var errors: [ParseError] = []
    private var errorLines: Set<Int> = []
    private var depth = 0
    private static let maxDepth = 200

    init(tokens: [Token]) { self.tokens = tokens }

    /// Parses a whole program; lexer errors are merged in.
    static func parse(_ source: String) -> (statements: [Stmt], errors: [ParseError]) {
        var lexer = Lexer(source)
        let tokens = lexer.run()
        var parser = Parser(tokens: tokens)
        for e in lexer.errors {
            parser.errors.append(ParseError(message: e.message, location: e.location, atEnd: e.atEnd))
            parser.errorLines.insert(e.location.line)
        }
        let stmts = parser.program()
        let sorted = parser.errors.enumerated().sorted { a, b in
            (a.element.location.line, a.element.location.column, a.offset) < (b.element.location.line, b.element.location.column, b.offset)
        }.map(\.element)
        return (stmts, sorted)
    }

    // MARK: - Token helpers

    private var peek: Token { tokens[current] }
    private func peekAt(_ k: Int) -> Token { tokens[min(current + k, tokens.count - 1)] }
    private var atEnd: Bool { peek.kind == .eof }

    @discardableResult
    private mutating func advance() -> Token {
        let t = tokens[current]
        if current < tokens.count - 1 { current += 1 }
        return t
    }

    private mutating func match(_ p: String) -> Bool {
        if peek.isPunct(p) { advance(); return true }
        return false
    }

    private mutating func matchKeyword(_ k: String) -> Bool {
        if peek.isKeyword(k) { advance(); return true }
        return false
    }

    private func fail(_ message: String, at token: Token? = nil) -> ParseError {
        let t = token ?? peek
        return ParseError(message: message, location: t.location, atEnd: token == nil ? onlyEndRemains : t.kind == .eof)
    }

    /// True at end of input or at the dedents the lexer adds there (a block header waiting
    /// for its body): the input stopped early and the REPL asks for more.
    private var onlyEndRemains: Bool {
        tokens[current...].allSatisfy { $0.kind == .eof || $0.kind == .dedent }
    }

    private func failExpected(_ what: String) -> ParseError {
        fail("expected \(what), got \(peek.display)")
    }

    @discardableResult
    private mutating func expect(_ p: String, _ what: String? = nil) throws -> Token {
        if peek.isPunct(p) { return advance() }
        throw failExpected(what ?? "'\(p)'")
    }

    /// Expects a closing bracket, naming the opener: "expected ')' to close '(' at 3:7".
    private mutating func expectClosing(_ close: String, opener: Token) throws {
        if peek.isPunct(close) { advance(); return }
        throw fail("expected '\(close)' to close '\(opener.text)' at \(opener.location), got \(peek.display)")
    }

    private mutating func expectName(_ what: String) throws -> Token {
        if peek.kind == .name { return advance() }
        if peek.kind == .keyword { throw fail("expected \(what), got keyword '\(peek.text)'") }
        throw failExpected(what)
    }

    private mutating func record(_ e: ParseError) {
        if errorLines.contains(e.location.line) && !e.atEnd { return }
        errors.append(e)
        errorLines.insert(e.location.line)
    }

    // MARK: - Statements

    mutating func program() -> [Stmt] {
        var stmts: [Stmt] = []
        while !atEnd {
            if peek.kind == .newline { advance(); continue }
            if peek.kind == .indent {
                record(fail("unexpected indent"))
                advance()
                stmts.append(contentsOf: statementsUntilDedent())
                continue
            }
            if peek.kind == .dedent { advance(); continue }
            if let s = statementRecovering() { stmts.append(s) }
        }
        return stmts
    }

    private mutating func statementsUntilDedent() -> [Stmt] {
        var stmts: [Stmt] = []
        while !atEnd && peek.kind != .dedent {
            if peek.kind == .newline { advance(); continue }
            if peek.kind == .indent {
                record(fail("unexpected indent"))
                advance()
                stmts.append(contentsOf: statementsUntilDedent())
                continue
            }
            if let s = statementRecovering() { stmts.append(s) }
        }
        if peek.kind == .dedent { advance() }
        return stmts
    }

    private mutating func statementRecovering() -> Stmt? {
        do {
            return try statement()
        } catch let e as ParseError {
            record(e)
            synchronize()
            return nil
        } catch {
            return nil
        }
    }

    /// Skips to the next statement boundary; an indented block that follows a broken
    /// header is parsed (for its own errors) and dropped.
    private mutating func synchronize() {
        while !atEnd && peek.kind != .newline && peek.kind != .dedent { advance() }
        if peek.kind == .newline {
            advance()
            if peek.kind == .indent {
                advance()
                _ = statementsUntilDedent()
            }
        }
    }

    private mutating func statement() throws -> Stmt {
        let t = peek
        if t.kind == .keyword {
            switch t.text {
            case "if": return try ifStatement()
            case "while":
                advance()
                let cond = try expression()
                let body = try block(after: t)
                return Stmt(.whileLoop(cond, body), t.location)
            case "for":
                advance()
                let target = try targetList()
                guard matchKeyword("in") else { throw failExpected("'in' after the loop variable") }
                let iter = try expressionList()
                let body = try block(after: t)
                return Stmt(.forLoop(target, iter, body), t.location)
            case "def": return try functionDefinition()
            case "elif", "else":
                throw fail("'\(t.text)' without a matching 'if'")
            default: break
            }
        }
        let s = try simpleStatement()
        try endOfStatement()
        return s
    }

    private mutating func endOfStatement() throws {
        if peek.kind == .newline { advance(); return }
        if peek.kind == .eof || peek.kind == .dedent { return }
        if match(";") {
            if peek.kind == .newline { advance() }
            return
        }
        throw fail("expected end of statement, got \(peek.display)")
    }

    private mutating func ifStatement() throws -> Stmt {
        let t = advance()
        var branches: [(Expr, [Stmt])] = []
        let cond = try expression()
        branches.append((cond, try block(after: t)))
        var otherwise: [Stmt]?
        while true {
            if peek.isKeyword("elif") {
                let e = advance()
                let c = try expression()
                branches.append((c, try block(after: e)))
            } else if peek.isKeyword("else") {
                let e = advance()
                otherwise = try block(after: e)
                break
            } else {
                break
            }
        }
        return Stmt(.ifChain(branches, otherwise: otherwise), t.location)
    }

    /// `: NEWLINE INDENT stmt+ DEDENT` or `: simple-statement NEWLINE`.
    private mutating func block(after header: Token) throws -> [Stmt] {
        guard match(":") else {
            throw fail("expected ':' after '\(header.text)' at \(header.location), got \(peek.display)")
        }
        if peek.kind == .newline {
            advance()
            guard peek.kind == .indent else {
                throw fail("expected an indented block after '\(header.text)' at \(header.location)")
            }
            advance()
            let body = statementsUntilDedent()
            return body
        }
        let s = try simpleStatement()
        try endOfStatement()
        return [s]
    }

    private mutating func functionDefinition() throws -> Stmt {
        let t = advance()
        let nameTok = try expectName("a function name after 'def'")
        let open = try expect("(", "'(' after the function name")
        let params = try parameters(open: open)
        let body = try block(after: t)
        var doc: String?
        if let first = body.first, case .expression(let e) = first.kind, case .string(let s) = e.kind { doc = s }
        let decl = FunctionDecl(name: nameTok.text, params: params, body: body, location: t.location, doc: doc,
                                binding: NameRef(nameTok.text, nameTok.location))
        return Stmt(.function(decl), t.location)
    }

    private mutating func parameters(open: Token) throws -> [Parameter] {
        var params: [Parameter] = []
        var seen: Set<String> = []
        if !peek.isPunct(")") {
            repeat {
                if peek.isPunct(")") { break }
                let p = try expectName("a parameter name")
                if seen.contains(p.text) { throw fail("duplicate parameter '\(p.text)'", at: p) }
                seen.insert(p.text)
                var def: Expr?
                if match("=") {
                    def = try expression()
                } else if let last = params.last, last.defaultValue != nil {
                    throw fail("parameter '\(p.text)' without a default follows one with a default", at: p)
                }
                params.append(Parameter(name: p.text, defaultValue: def, location: p.location))
            } while match(",")
        }
        try expectClosing(")", opener: open)
        return params
    }

    private mutating func simpleStatement() throws -> Stmt {
        let t = peek
        if t.kind == .keyword {
            switch t.text {
            case "pass": advance(); return Stmt(.pass, t.location)
            case "break": advance(); return Stmt(.breakLoop, t.location)
            case "continue": advance(); return Stmt(.continueLoop, t.location)
            case "return":
                advance()
                if peek.kind == .newline || peek.kind == .eof || peek.kind == .dedent || peek.isPunct(";") {
                    return Stmt(.returnValue(nil), t.location)
                }
                return Stmt(.returnValue(try expressionList()), t.location)
            case "global":
                advance()
                var names: [String] = []
                repeat { names.append(try expectName("a variable name after 'global'").text) } while match(",")
                return Stmt(.global(names), t.location)
            case "import":
                advance()
                if peek.kind == .string {
                    let s = advance()
                    guard s.parts.count == 1, case .text(let path) = s.parts[0] else {
                        throw fail("an import path cannot be interpolated", at: s)
                    }
                    var alias = (path.split(separator: "/").last.map(String.init) ?? path)
                    if alias.hasSuffix(".vls") { alias.removeLast(4) }
                    var aliasLoc = s.location
                    if matchKeyword("as") { let a = try expectName("a name after 'as'"); alias = a.text; aliasLoc = a.location }
                    guard isIdentifier(alias) else {
                        throw fail("cannot bind module '\(path)' to a name; write: import \"\(path)\" as name", at: s)
                    }
                    return Stmt(.importModule(name: path, isPath: true, binding: NameRef(alias, aliasLoc)), t.location)
                }
                let n = try expectName("a module name after 'import'")
                var alias = n
                if matchKeyword("as") { alias = try expectName("a name after 'as'") }
                return Stmt(.importModule(name: n.text, isPath: false, binding: NameRef(alias.text, alias.location)), t.location)
            default: break
            }
        }
        let first = try expressionList()
        if peek.isPunct("=") {
            let eq = advance()
            let target = try toTarget(first)
            let value = try expressionList()
            if peek.isPunct("=") {
                throw fail("chained assignment 'a = b = value' is not supported; assign each name separately")
            }
            return Stmt(.assign(target, value), eq.location)
        }
        for (p, op) in [("+=", BinaryOperator.add), ("-=", .subtract), ("*=", .multiply), ("/=", .divide),
                        ("%=", .modulo), ("//=", .floorDivide), ("**=", .power)] where peek.isPunct(p) {
            let opTok = advance()
            let target = try toTarget(first)
            if case .tuple = target { throw fail("cannot use '\(p)' with several targets", at: opTok) }
            let value = try expression()
            return Stmt(.augmentedAssign(target, op, value), opTok.location)
        }
        return Stmt(.expression(first), t.location)
    }

    private func isIdentifier(_ s: String) -> Bool {
        guard let f = s.first, f.isLetter || f == "_" else { return false }
        return s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !keywords.contains(s)
    }

    private func toTarget(_ e: Expr, at token: Token? = nil) throws -> Target {
        switch e.kind {
        case .name(let n): return .name(n)
        case .subscripted(let base, let items): return .subscripted(base, items, e.location)
        case .attribute(let base, let name): return .attribute(base, name, e.location)
        case .list(let items):
            return .tuple(try items.map { try toTarget($0) }, e.location)
        default:
            throw ParseError(message: "cannot assign to \(describe(e))", location: e.location, atEnd: false)
        }
    }

    private func describe(_ e: Expr) -> String {
        switch e.kind {
        case .call: return "a function call"
        case .int, .float, .string, .interpolated, .bool, .nilLiteral: return "a literal"
        case .binary, .unary, .and, .or, .contains, .comparisonChain: return "an operator expression"
        default: return "this expression"
        }
    }

    /// Loop targets: postfix expressions separated by commas (`x`, `i, x`, `a, (b, c)`).
    private mutating func targetList() throws -> Target {
        let start = peek.location
        var items: [Target] = []
        repeat {
            if peek.isKeyword("in") { break }
            let e = try postfix()
            items.append(try toTarget(e))
        } while match(",")
        if items.isEmpty { throw failExpected("a loop variable") }
        return items.count == 1 ? items[0] : .tuple(items, start)
    }

    // MARK: - Expressions

    /// `a, b, c` as a list (tuples are lists), or a single expression.
    private mutating func expressionList() throws -> Expr {
        let first = try expression()
        guard peek.isPunct(",") else { return first }
        var items = [first]
        while match(",") {
            if peek.kind == .newline || peek.kind == .eof || peek.isPunct("=") || peek.isPunct(":") || peek.isPunct(")") { break }
            items.append(try expression())
        }
        return Expr(.list(items), first.location)
    }

    mutating func expression() throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("expression nested too deeply") }
        if peek.isKeyword("fn") { return try lambda() }
        let e = try orExpr()
        if peek.isKeyword("if") {
            let ifTok = advance()
            let cond = try orExpr()
            guard matchKeyword("else") else {
                throw fail("expected 'else' in conditional expression started at \(ifTok.location), got \(peek.display)")
            }
            let other = try expression()
            return Expr(.conditional(condition: cond, then: e, otherwise: other), ifTok.location)
        }
        return e
    }

    private mutating func lambda() throws -> Expr {
        let t = advance()
        let open = try expect("(", "'(' after 'fn'")
        let params = try parameters(open: open)
        guard peek.isPunct("=>") else { throw fail("expected '=>' after the parameters of 'fn' at \(t.location), got \(peek.display)") }
        let arrow = advance()
        let body = try expression()
        let ret = Stmt(.returnValue(body), arrow.location)
        let decl = FunctionDecl(name: "fn", params: params, body: [ret], location: t.location, doc: nil, binding: nil)
        return Expr(.lambda(decl), t.location)
    }

    private mutating func orExpr() throws -> Expr {
        var e = try andExpr()
        while peek.isKeyword("or") {
            let t = advance()
            e = Expr(.or(e, try andExpr()), t.location)
        }
        return e
    }

    private mutating func andExpr() throws -> Expr {
        var e = try notExpr()
        while peek.isKeyword("and") {
            let t = advance()
            e = Expr(.and(e, try notExpr()), t.location)
        }
        return e
    }

    private mutating func notExpr() throws -> Expr {
        if peek.isKeyword("not") {
            let t = advance()
            return Expr(.unary(.not, try notExpr()), t.location)
        }
        return try comparison()
    }

    private mutating func comparison() throws -> Expr {
        var e = try additive()
        while true {
            let t = peek
            var op: BinaryOperator?
            if t.kind == .punct {
                switch t.text {
                case "==": op = .equal
                case "!=": op = .notEqual
                case "<": op = .less
                case "<=": op = .lessEqual
                case ">": op = .greater
                case ">=": op = .greaterEqual
                default: break
                }
            }
            if let op {
                advance()
                let rhs = try additive()
                if case .binary(let prev, let a, let b) = e.kind, isComparison(prev), !e.parenthesized {
                    e = Expr(.comparisonChain([a, b, rhs], [prev, op]), e.location)
                } else if case .comparisonChain(var operands, var ops) = e.kind {
                    operands.append(rhs)
                    ops.append(op)
                    e = Expr(.comparisonChain(operands, ops), e.location)
                } else {
                    e = Expr(.binary(op, e, rhs), t.location)
                }
            } else if t.isKeyword("in") {
                advance()
                e = Expr(.contains(item: e, container: try additive(), negated: false), t.location)
            } else if t.isKeyword("not") && peekAt(1).isKeyword("in") {
                advance(); advance()
                e = Expr(.contains(item: e, container: try additive(), negated: true), t.location)
            } else {
                return e
            }
        }
    }

    private func isComparison(_ op: BinaryOperator) -> Bool {
        switch op {
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual: return true
        default: return false
        }
    }

    private mutating func additive() throws -> Expr {
        var e = try multiplicative()
        while peek.isPunct("+") || peek.isPunct("-") {
            let t = advance()
            e = Expr(.binary(t.text == "+" ? .add : .subtract, e, try multiplicative()), t.location)
        }
        return e
    }

    private mutating func multiplicative() throws -> Expr {
        var e = try unary()
        while peek.kind == .punct {
            let op: BinaryOperator
            switch peek.text {
            case "*": op = .multiply
            case "/": op = .divide
            case "//": op = .floorDivide
            case "%": op = .modulo
            case "@": op = .matmul
            default: return e
            }
            let t = advance()
            e = Expr(.binary(op, e, try unary()), t.location)
        }
        return e
    }

    private mutating func unary() throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("expression nested too deeply") }
        if peek.isPunct("-") || peek.isPunct("+") {
            let t = advance()
            let operand = try unary()
            if t.text == "-" {
                if case .int(let v) = operand.kind { return Expr(.int(-v), t.location) }
                if case .float(let v) = operand.kind { return Expr(.float(-v), t.location) }
            }
            return Expr(.unary(t.text == "-" ? .negate : .plus, operand), t.location)
        }
        return try power()
    }

    private mutating func power() throws -> Expr {
        let base = try postfix()
        if peek.isPunct("**") {
            let t = advance()
            return Expr(.binary(.power, base, try unary()), t.location)
        }
        return base
    }

    private mutating func postfix() throws -> Expr {
        var e = try primary()
        while true {
            if peek.isPunct("(") {
                let open = advance()
                e = Expr(.call(e, try arguments(open: open)), open.location)
            } else if peek.isPunct("[") {
                let open = advance()
                e = Expr(.subscripted(e, try subscripts(open: open)), open.location)
            } else if peek.isPunct(".") {
                let dot = advance()
                let name = try expectName("a property name after '.'")
                e = Expr(.attribute(e, name.text), name.location)
                _ = dot
            } else {
                return e
            }
        }
    }

    private mutating func arguments(open: Token) throws -> [Argument] {
        var args: [Argument] = []
        var sawKeyword = false
        while !peek.isPunct(")") {
            if peek.kind == .eof { break }
            let t = peek
            if (t.kind == .name || t.kind == .keyword) && peekAt(1).isPunct(":") {
                if t.text == "lambda" { throw lambdaHint(t) }
                advance(); advance()
                if args.contains(where: { $0.label == t.text }) { throw fail("keyword argument '\(t.text)' repeated", at: t) }
                args.append(Argument(label: t.text, value: try expression(), location: t.location))
                sawKeyword = true
            } else if t.kind == .name && peekAt(1).isPunct("=") {
                throw fail("keyword arguments are written '\(t.text): value', not '\(t.text)=value'", at: t)
            } else {
                let v = try expression()
                if sawKeyword { throw ParseError(message: "positional argument follows keyword argument", location: v.location, atEnd: false) }
                args.append(Argument(label: nil, value: v, location: v.location))
            }
            if !match(",") { break }
        }
        try expectClosing(")", opener: open)
        return args
    }

    private mutating func subscripts(open: Token) throws -> [SubscriptItem] {
        var items: [SubscriptItem] = []
        repeat {
            if peek.isPunct("]") { break }
            var start: Expr?
            if !peek.isPunct(":") { start = try expression() }
            if match(":") {
                var stop: Expr?
                var step: Expr?
                if !peek.isPunct(":") && !peek.isPunct(",") && !peek.isPunct("]") { stop = try expression() }
                if match(":") {
                    if !peek.isPunct(",") && !peek.isPunct("]") { step = try expression() }
                }
                items.append(.slice(start, stop, step))
            } else if let start {
                items.append(.index(start))
            }
        } while match(",")
        if items.isEmpty { throw fail("expected an index inside '[]'") }
        try expectClosing("]", opener: open)
        return items
    }

    /// Python's `lambda x: e` is the most likely slip from Python users.
    private func lambdaHint(_ t: Token) -> ParseError {
        fail("vls writes anonymous functions as 'fn(x) => expression', not 'lambda x: expression'", at: t)
    }

    private mutating func primary() throws -> Expr {
        let t = peek
        switch t.kind {
        case .int: advance(); return Expr(.int(t.intValue), t.location)
        case .float: advance(); return Expr(.float(t.floatValue), t.location)
        case .string:
            advance()
            var parts = try interpolation(t)
            // Adjacent string literals concatenate.
            while peek.kind == .string { parts += try interpolation(advance()) }
            if parts.allSatisfy({ if case .text = $0 { return true }; return false }) {
                let s = parts.map { if case .text(let x) = $0 { return x }; return "" }.joined()
                return Expr(.string(s), t.location)
            }
            return Expr(.interpolated(parts), t.location)
        case .name:
            if t.text == "lambda" && (peekAt(1).kind == .name || peekAt(1).isPunct(":")) { throw lambdaHint(t) }
            advance(); return Expr(.name(NameRef(t.text, t.location)), t.location)
        case .keyword:
            switch t.text {
            case "true": advance(); return Expr(.bool(true), t.location)
            case "false": advance(); return Expr(.bool(false), t.location)
            case "nil": advance(); return Expr(.nilLiteral, t.location)
            case "fn": return try lambda()
            default: throw fail("expected an expression, got keyword '\(t.text)'")
            }
        case .punct:
            switch t.text {
            case "(":
                advance()
                if peek.isPunct(")") { advance(); return Expr(.list([]), t.location) }
                let e = try expression()
                if peek.isPunct(",") {
                    var items = [e]
                    while match(",") {
                        if peek.isPunct(")") { break }
                        items.append(try expression())
                    }
                    try expectClosing(")", opener: t)
                    return Expr(.list(items), t.location)
                }
                try expectClosing(")", opener: t)
                e.parenthesized = true
                return e
            case "[":
                advance()
                var items: [Expr] = []
                if !peek.isPunct("]") {
                    let first = try expression()
                    if peek.isKeyword("for") {
                        advance()
                        let target = try targetList()
                        guard matchKeyword("in") else { throw failExpected("'in' in list comprehension") }
                        let iter = try orExpr()
                        var cond: Expr?
                        if matchKeyword("if") { cond = try orExpr() }
                        try expectClosing("]", opener: t)
                        return Expr(.comprehension(element: first, target: target, iterable: iter, condition: cond), t.location)
                    }
                    items.append(first)
                    while match(",") {
                        if peek.isPunct("]") { break }
                        items.append(try expression())
                    }
                }
                try expectClosing("]", opener: t)
                return Expr(.list(items), t.location)
            case "{":
                advance()
                var pairs: [(Expr, Expr)] = []
                while !peek.isPunct("}") && !atEnd {
                    let k = try expression()
                    try expect(":", "':' after a dictionary key")
                    let v = try expression()
                    if pairs.isEmpty && peek.isKeyword("for") {
                        advance()
                        let target = try targetList()
                        guard matchKeyword("in") else { throw failExpected("'in' in dict comprehension") }
                        let iter = try orExpr()
                        var cond: Expr?
                        if matchKeyword("if") { cond = try orExpr() }
                        try expectClosing("}", opener: t)
                        return Expr(.dictComprehension(key: k, value: v, target: target, iterable: iter, condition: cond), t.location)
                    }
                    pairs.append((k, v))
                    if !match(",") { break }
                }
                try expectClosing("}", opener: t)
                return Expr(.dict(pairs), t.location)
            default: break
            }
        default: break
        }
        throw failExpected("an expression")
    }

    private mutating func interpolation(_ t: Token) throws -> [InterpolationPart] {
        var out: [InterpolationPart] = []
        for part in t.parts {
            switch part {
            case .text(let s): out.append(.text(s))
            case .expr(let source, let loc, let spec):
                var lexer = Lexer(source, line: loc.line, column: loc.column)
                let toks = lexer.run()
                if let e = lexer.errors.first { throw ParseError(message: e.message, location: e.location, atEnd: false) }
                var sub = Parser(tokens: toks)
                let e = try sub.expression()
                while sub.peek.kind == .newline { sub.advance() }
                if sub.peek.kind != .eof {
                    throw ParseError(message: "unexpected \(sub.peek.display) in string interpolation", location: sub.peek.location, atEnd: false)
                }
                out.append(.expr(e, spec: spec))
            }
        }
        return out
    }
}
