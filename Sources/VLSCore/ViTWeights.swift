/// A linear layer, weight [out, in] as PyTorch stores it.
public struct Linear: Sendable {
    public var weight: Tensor
    public var bias: Tensor?
    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }
}

/// A layer norm's affine parameters.
public struct Norm: Sendable {
    public var weight: Tensor
    public var bias: Tensor
}

/// One transformer block's parameters.
public struct BlockWeights: Sendable {
    public var norm1: Norm
    /// Fused q|k|v projection, rows ordered (q|k|v, head, dim): [3D, D].
    public var qkv: Linear
    public var proj: Linear
    public var norm2: Norm
    public var fc1: Linear
    public var fc2: Linear
    public var ls1: Tensor?
    public var ls2: Tensor?
}

/// All parameters of a ViT, contiguous Float32 (memory-mapped where the file allows).
public struct ViTWeights: Sendable {
    /// Patch projection as a linear map over flattened (c, y, x) patches: [D, C·P·P].
    public var patchEmbed: Linear
    public var clsToken: Tensor?
    public var distToken: Tensor?
    public var regToken: Tensor?
    /// [1, L, D], L = patches (+ prefix tokens unless noEmbedClass).
    public var posEmbed: Tensor
    public var normPre: Norm?
    public var blocks: [BlockWeights]
    /// Final norm before pooling (`norm`) or after it (`fc_norm`); nil when absent.
    public var norm: Norm?
    public var head: Linear
    public var headDist: Linear?
}
