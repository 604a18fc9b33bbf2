import CLibCrypto

/// SHA-256 from OpenSSL's libcrypto (the library the Jupyter kernel signs messages with):
/// the identity of a model's weight bytes and of a dataset in part files. Streamed: update
/// with any number of buffers, then `finish` once.
public struct SHA256 {
    private final class Context {
        let ctx: OpaquePointer
        init() {
            guard let c = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed (out of memory)") }
            ctx = c
            precondition(EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex(sha256) failed")
        }
        deinit { EVP_MD_CTX_free(ctx) }
    }
    private let context = Context()
    private var finished: [UInt8]?

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(finished == nil, "SHA256.update after finish")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(context.ctx, base, bytes.count) == 1, "EVP_DigestUpdate failed")
    }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
    public mutating func update(_ s: String) { update(Array(s.utf8)) }

    /// The 32-byte digest (the same on later calls).
    public mutating func finish() -> [UInt8] {
        if let finished { return finished }
        var out = [UInt8](repeating: 0, count: 32)
        var n: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context.ctx, &out, &n) == 1 && n == 32, "EVP_DigestFinal_ex failed")
        finished = out
        return out
    }

    public mutating func hexDigest() -> String {
        finish().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    public static func hex(_ bytes: [UInt8]) -> String { var s = SHA256(); s.update(bytes); return s.hexDigest() }
}
