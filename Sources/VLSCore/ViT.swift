import Foundation

// Dimension legend: B batch, T tokens (prefix + patches), N patches, P patch size,
// C_in input channels, D width, H heads, dh head width (D / H), F mlp width, C classes.

/// A Vision Transformer loaded from a checkpoint, run on OpenBLAS.
public final class ViT: @unchecked Sendable {
    public let config: ViTConfig
    public let weights: ViTWeights
    /// Where the model came from (file or folder), for messages.
    public let source: String
    /// Working memory reused across forward passes (not shared between threads).
    let workspace = Workspace()
    let lock = NSLock()
    /// SHA-256 of the weight bytes (part files' model identity), computed once per load.
    var weightDigestCache: String?
    let weightDigestLock = NSLock()
    /// The thread inside `forward` (guarded by `ownerLock`): a hook that calls the model it
    /// is hooked into would wait on `lock` forever; it is refused instead.
    private var owner: pthread_t?
    private let ownerLock = NSLock()

    public init(config: ViTConfig, weights: ViTWeights, source: String) {
        self.config = config
        self.weights = weights
        self.source = source
    }

    /// Loads a `.safetensors` file or checkpoint folder (timm or Hugging Face layout).
    public convenience init(path: String) throws {
        let (config, weights) = try Checkpoint.load(path)
        self.init(config: config, weights: weights, source: path)
    }

    /// Every hook name of this model, in execution order.
    public var hookPoints: [HookPoint] { HookPoint.all(depth: config.depth, preNormBlocks: !config.postNorm) }

    /// Logits [B, C] for preprocessed images [B, C_in, H, W].
    public func forward(_ images: Tensor, hooks: HookHandler? = nil) throws -> Tensor {
        try enter()
        defer { leave() }
        var pass = try ForwardPass(model: self, images: images, hooks: hooks)
        return try pass.run()
    }

    /// Takes the model's lock, refusing a re-entrant call from the thread that holds it.
    func enter() throws {
        let me = pthread_self()
        ownerLock.lock()
        let reentrant = owner.map { pthread_equal($0, me) != 0 } ?? false
        ownerLock.unlock()
        if reentrant {
            throw CoreError("re-entrant model call: a hook or edit function called the model it is running in (call it before or after, not from inside the pass)")
        }
        lock.lock()
        ownerLock.lock()
        owner = me
        ownerLock.unlock()
    }

    func leave() {
        ownerLock.lock()
        owner = nil
        ownerLock.unlock()
        lock.unlock()
    }

    /// Checks an input batch against the architecture; returns B.
    func validate(_ x: Tensor) throws -> Int {
        let c = config
        guard x.rank == 4 else {
            throw CoreError("model input must be [B, \(c.inChannels), \(c.imageSize), \(c.imageSize)], got shape \(x.shape)")
        }
        guard x.shape[1] == c.inChannels, x.shape[2] == c.imageSize, x.shape[3] == c.imageSize else {
            throw CoreError("model input must be [B, \(c.inChannels), \(c.imageSize), \(c.imageSize)] (this model's image size), got \(x.shape); preprocess images for the model first")
        }
        // The largest working buffers of one pass: attention scores [B, H, T, T], MLP
        // activations [B, T, F] and fused q, k, v [B, T, 3D].
        let B = x.shape[0], T = c.numTokens
        _ = try Limits.checkTensor([B, c.heads, T, T], for: "forward (attention scores)")
        _ = try Limits.checkTensor([B, T, max(c.mlpHidden, 3 * c.width)], for: "forward (activations)")
        return B
    }
}

// MARK: - Embedding pieces shared by the fast forward and the tape forward of the backward pass

extension ViT {
    /// Patches of images [B, C_in, S, S] as rows for the patch projection: `cols` [B·N, C_in·P·P],
    /// each row in (channel, y, x) order to match the conv weight viewed as [D, C_in·P·P].
    func im2col(_ img: UnsafePointer<Float>, batch B: Int, into cols: UnsafeMutablePointer<Float>) {
        let c = config
        let p = c.patchSize, g = c.gridSize, N = c.numPatches, cin = c.inChannels, S = c.imageSize
        let k = cin * p * p
        for b in 0..<B {
            for gy in 0..<g {
                for gx in 0..<g {
                    let row = cols + ((b * N) + gy * g + gx) * k
                    for ch in 0..<cin {
                        for yy in 0..<p {
                            (row + (ch * p + yy) * p).update(from: img + ((b * cin + ch) * S + gy * p + yy) * S + gx * p, count: p)
                        }
                    }
                }
            }
        }
    }

    /// Prefix tokens (cls, dist, registers) then the patch embeddings [B, N, D], plus the
    /// position table as timm's `_pos_embed` (patches only when `noEmbedClass`): `seq` [B, T, D].
    func assembleTokens(_ patches: UnsafePointer<Float>, batch B: Int, into seq: UnsafeMutablePointer<Float>) {
        let c = config, w = weights
        let N = c.numPatches, D = c.width, T = c.numTokens, prefix = c.numPrefixTokens
        let pos = w.posEmbed.pointer
        for b in 0..<B {
            let s = seq + b * T * D
            var t = 0
            for tok in [w.clsToken, w.distToken, w.regToken].compactMap({ $0 }) {
                let n = tok.shape[1]
                (s + t * D).update(from: tok.pointer, count: n * D)
                t += n
            }
            (s + prefix * D).update(from: patches + b * N * D, count: N * D)
            if c.noEmbedClass {
                for i in 0..<(N * D) { s[prefix * D + i] += pos[i] }
            } else {
                for i in 0..<(T * D) { s[i] += pos[i] }
            }
        }
    }
}

/// Growable scratch buffers, one per purpose, reused across forward passes.
final class Workspace: @unchecked Sendable {
    private var buffers: [String: (UnsafeMutablePointer<Float>, Int)] = [:]

    func buffer(_ name: String, _ count: Int) -> UnsafeMutablePointer<Float> {
        if let (p, n) = buffers[name], n >= count { return p }
        if let (p, _) = buffers[name] { p.deallocate() }
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        buffers[name] = (p, max(count, 1))
        return p
    }

    deinit { for (p, _) in buffers.values { p.deallocate() } }
}
