/// The syntax tree. Every node carries the source location of the token to blame.

/// Operators that objects may implement (`VLSObject.binary`).
public enum BinaryOperator: String, Sendable, CaseIterable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//"
    case modulo = "%", power = "**", matmul = "@"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
}

/// Prefix operators that objects may implement (`VLSObject.unary`).
public enum UnaryOperator: String, Sendable {
    case negate = "-", plus = "+", not = "not"
}

/// How the resolver bound a name.
enum Resolution {
    case global
    case local(Int)
    case enclosing(depth: Int, slot: Int)
}

/// A use or definition of a variable; the resolver fills in `resolution`.
final class NameRef {
    let name: String
    let location: SourceLocation
    var resolution: Resolution = .global
    init(_ name: String, _ location: SourceLocation) { self.name = name; self.location = location }
}

final class Expr {
    let kind: ExprKind
    let location: SourceLocation
    /// Written inside parentheses: `(a < b) < c` is not a comparison chain.
    var parenthesized = false
    /// A comprehension's own frame (its variables are its own, as in Python 3): the number
    /// of slots, set by the resolver.
    var scopeSlots = 0
    init(_ kind: ExprKind, _ location: SourceLocation) { self.kind = kind; self.location = location }
}

struct Argument {
    var label: String?
    var value: Expr
    var location: SourceLocation
}

enum SubscriptItem {
    case index(Expr)
    case slice(Expr?, Expr?, Expr?)
}

enum InterpolationPart {
    case text(String)
    case expr(Expr, spec: String?)
}

indirect enum ExprKind {
    case int(Int)
    case float(Double)
    case string(String)
    case interpolated([InterpolationPart])
    case bool(Bool)
    case nilLiteral
    case name(NameRef)
    case list([Expr])
    case dict([(Expr, Expr)])
    case unary(UnaryOperator, Expr)
    case binary(BinaryOperator, Expr, Expr)
    /// `a < b <= c`: each operand evaluated once, like Python.
    case comparisonChain([Expr], [BinaryOperator])
    case and(Expr, Expr)
    case or(Expr, Expr)
    case contains(item: Expr, container: Expr, negated: Bool)
    case conditional(condition: Expr, then: Expr, otherwise: Expr)
    case call(Expr, [Argument])
    case subscripted(Expr, [SubscriptItem])
    case attribute(Expr, String)
    case lambda(FunctionDecl)
    case comprehension(element: Expr, target: Target, iterable: Expr, condition: Expr?)
    case dictComprehension(key: Expr, value: Expr, target: Target, iterable: Expr, condition: Expr?)
}

/// Something that can be assigned to.
indirect enum Target {
    case name(NameRef)
    case subscripted(Expr, [SubscriptItem], SourceLocation)
    case attribute(Expr, String, SourceLocation)
    case tuple([Target], SourceLocation)
}

struct Parameter {
    var name: String
    var defaultValue: Expr?
    var location: SourceLocation
}

/// A `def` or `fn(...) => ...`; the resolver fills in the frame layout.
final class FunctionDecl {
    let name: String
    let params: [Parameter]
    let body: [Stmt]
    let location: SourceLocation
    let doc: String?
    /// Set for `def`: the variable the function is bound to.
    let binding: NameRef?
    var slotCount = 0
    var globalNames: Set<String> = []
    /// Slots that no nested function reads, in a function that defines nested functions:
    /// cleared when a call returns (see `CompiledFunction.releaseOnExit`).
    var releaseOnExit: [Int] = []
    /// Whether a call's frame may outlive it (a nested def or fn captures it). The resolver
    /// clears it for functions that define no functions; unresolved declarations stay safe.
    var framesEscape = true
    init(name: String, params: [Parameter], body: [Stmt], location: SourceLocation, doc: String?, binding: NameRef?) {
        self.name = name; self.params = params; self.body = body; self.location = location; self.doc = doc; self.binding = binding
    }
}

final class Stmt {
    let kind: StmtKind
    let location: SourceLocation
    init(_ kind: StmtKind, _ location: SourceLocation) { self.kind = kind; self.location = location }
}

enum StmtKind {
    case expression(Expr)
    case assign(Target, Expr)
    case augmentedAssign(Target, BinaryOperator, Expr)
    case ifChain([(Expr, [Stmt])], otherwise: [Stmt]?)
    case whileLoop(Expr, [Stmt])
    case forLoop(Target, Expr, [Stmt])
    case function(FunctionDecl)
    case returnValue(Expr?)
    case breakLoop
    case continueLoop
    case pass
    case importModule(name: String, isPath: Bool, binding: NameRef)
    case global([String])
}
