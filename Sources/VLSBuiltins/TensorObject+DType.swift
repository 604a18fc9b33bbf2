import Foundation
import VLSCore
import VLSLanguage

/// numpy's dtypes as vls keeps them: storage is always float32, and a tag says how the
/// elements read. `bool` (comparisons, isnan, any/all) reads 0/1 as false/true and indexes
/// as a mask; `int64` (argmax, argsort, topk indices, unique counts, sums of masks and
/// integer arithmetic on them) reads as integers. float32 holds every integer of magnitude
/// below 2^24 exactly, so an int64 tensor whose values reach 2^24 is an error, never a
/// silently rounded index or count.
enum DType: String {
    case float32, int64, bool
}

extension TensorObject {
    /// 2^24: the first integer float32 storage cannot tell from its neighbour.
    static let exactIntegerLimit: Float = 16_777_216

    /// An int64 tensor, checked: every value an integer below 2^24 in magnitude.
    static func int64(_ t: Tensor, _ what: String) throws -> Value {
        let c = t.contiguous()
        let p = c.pointer
        for i in 0..<c.count where !(abs(p[i]) < exactIntegerLimit) {
            throw RuntimeError("\(what): an integer result (\(p[i])) reaches 2^24 = 16777216; vls keeps int64 tensors in float32 storage, which holds integers exactly only below that")
        }
        return .object(TensorObject(c, dtype: .int64))
    }

    /// One element as numpy's scalar of the dtype: np.float32, int or bool.
    func scalar(_ x: Float) throws -> Value {
        switch dtype {
        case .float32: return .float32(x)
        case .int64: return .int(try TensorObject.intElement(x))
        case .bool: return .bool(x != 0)
        }
    }

    /// An int64 tensor's element as an Int, checked: writes keep these finite integers
    /// below 2^24, but a read never traps (Int(Float) does on NaN, inf or beyond 2^63).
    static func intElement(_ x: Float) throws -> Int {
        guard x.isFinite, x == x.rounded(), abs(x) < exactIntegerLimit else {
            throw RuntimeError("an int64 tensor holds \(x), not an integer below 2^24 = 16777216")
        }
        return Int(x)
    }

    /// The values written into a tensor of this dtype, as numpy casts them on assignment:
    /// into bool any non-zero (NaN too) is true; into int64 each value must be a finite
    /// integer below 2^24 in magnitude (numpy: "cannot convert float NaN to integer"; vls
    /// also refuses fractions and values float32 storage cannot hold exactly, instead of
    /// rounding them silently).
    func castForWrite(_ src: Tensor, _ what: String) throws -> Tensor {
        switch dtype {
        case .float32: return src
        case .bool: return src.map { $0 != 0 ? 1 : 0 }
        case .int64:
            for x in src.scalars where !(x.isFinite && x == x.rounded() && abs(x) < TensorObject.exactIntegerLimit) {
                if x.isNaN { throw RuntimeError("\(what): cannot convert float NaN to integer (the tensor is int64)") }
                if x.isInfinite { throw RuntimeError("\(what): cannot convert float \(x > 0 ? "inf" : "-inf") to integer (the tensor is int64)") }
                if x != x.rounded() { throw RuntimeError("\(what): \(x) is not an integer, and the tensor is int64 (write into a float32 copy, or round first)") }
                throw RuntimeError("\(what): \(x) reaches 2^24 = 16777216; vls keeps int64 tensors in float32 storage, which holds integers exactly only below that")
            }
            return src
        }
    }

    /// Integer arithmetic (numpy's int64 with int64 or a Python int, bools counting as ints):
    /// + - * // % ** computed exactly in Int. Where numpy warns and carries on (division or
    /// modulo by zero, overflow) it is an error; a negative power is an error as in numpy.
    static func integerBinary(_ op: BinaryOperator, _ a: Tensor, _ b: Tensor) throws -> Value? {
        guard [.add, .subtract, .multiply, .floorDivide, .modulo, .power].contains(op) else { return nil }
        let shape = try Tensor.broadcastShape(a.shape, b.shape)
        let out = try Tensor(uninitialized: shape, for: "\(a.shape) \(op.rawValue) \(b.shape)")
        let x = try a.broadcast(to: shape).scalars, y = try b.broadcast(to: shape).scalars
        let dst = out.mutablePointer
        for i in 0..<out.count {
            // A Python int operand may be far beyond float32's exact integers: refuse it
            // rather than convert (Int(Float) traps beyond 2^63; a rounded operand is a
            // silently wrong answer).
            guard abs(x[i]) < exactIntegerLimit, abs(y[i]) < exactIntegerLimit else {
                throw RuntimeError("integer overflow: an operand of \(op.rawValue) (\(abs(x[i]) < exactIntegerLimit ? y[i] : x[i])) reaches 2^24 = 16777216, beyond what vls's int64 tensors (float32 storage) hold exactly")
            }
            let p = Int(x[i]), q = Int(y[i])
            let r: Int
            switch op {
            case .add: r = p + q
            case .subtract: r = p - q
            case .multiply:
                let (m, o) = p.multipliedReportingOverflow(by: q)
                guard !o else { throw RuntimeError("integer overflow in \(p) * \(q) (numpy wraps around)") }
                r = m
            case .floorDivide:
                guard q != 0 else { throw RuntimeError("integer division by zero in a tensor (numpy warns and gives 0)") }
                let d = p / q
                r = (p % q != 0 && (p < 0) != (q < 0)) ? d - 1 : d
            case .modulo:
                guard q != 0 else { throw RuntimeError("integer modulo by zero in a tensor (numpy warns and gives 0)") }
                let m = p % q
                r = m != 0 && (m < 0) != (q < 0) ? m + q : m
            default:
                guard q >= 0 else { throw RuntimeError("integers to negative integer powers are not allowed (numpy); use a float exponent") }
                if p == 0 || p == 1 { r = q == 0 ? 1 : p }
                else if p == -1 { r = q % 2 == 0 ? 1 : -1 }
                else {
                    // |p| >= 2: past 24 factors the result is out of range (an error below).
                    var acc = 1, e = q
                    while e > 0 && abs(acc) < 1 << 24 { acc *= p; e -= 1 }
                    r = e > 0 ? Int.max : acc
                }
            }
            guard abs(r) < 1 << 24 else {
                throw RuntimeError("integer overflow: \(p) \(op.rawValue) \(q) = \(r == Int.max ? "(too large)" : String(r)) reaches 2^24 = 16777216, beyond what vls's int64 tensors (float32 storage) hold exactly")
            }
            dst[i] = Float(r)
        }
        return .object(TensorObject(out, dtype: .int64))
    }

    /// The dtype of a number or tensor operand: int64 for ints and bools, float32 otherwise
    /// (a Python float with an integer tensor gives float32 here; numpy gives float64).
    static func operandIsInteger(_ v: Value) -> Bool? {
        switch v {
        case .int, .bool: return true
        case .float, .float32: return false
        case .object(let o as TensorObject): return o.dtype != .float32
        case .list, .range: return nil
        default: return nil
        }
    }
}
