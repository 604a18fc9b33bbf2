import Foundation

/// A seeded generator (SplitMix64 seeding xoshiro256**): every random draw in vls
/// derives from a seed, so runs repeat exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E3779B97F4A7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// Normal(0, std) truncated to [-2, 2] absolute (as torch's trunc_normal_ defaults).
    public mutating func truncatedNormal(std: Double, a: Double = -2, b: Double = 2) -> Double {
        while true {
            let v = normal() * std
            if v >= a && v <= b { return v }
        }
    }

    /// A random permutation of 0..<n (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            p.swapAt(i, j)
        }
        return p
    }
}

extension ViT {
    /// The same architecture with timm's random initialisation: Linear weights truncated
    /// normal (std 0.02) and zero biases, unit norms, position embedding truncated normal
    /// (std 0.02), class/register/distillation tokens normal (std 1e-6), patch projection as
    /// PyTorch's Conv2d default (uniform ±1/√fan_in), layer scale and post-norm weights at
    /// timm's init value 1e-5. Seeded: the same seed gives the same model.
    public func randomized(seed: UInt64) -> ViT {
        var g = SeededGenerator(seed: seed)
        let c = config
        func tensor(_ shape: [Int], _ f: () -> Double) -> Tensor {
            Tensor((0..<shape.reduce(1, *)).map { _ in Float(f()) }, shape: shape)
        }
        func linear(_ l: Linear) -> Linear {
            Linear(weight: tensor(l.weight.shape) { g.truncatedNormal(std: 0.02) }, bias: l.bias.map { Tensor(zeros: $0.shape) })
        }
        func norm(_ n: Norm, weight: Float = 1) -> Norm {
            Norm(weight: Tensor([Float](repeating: weight, count: n.weight.count), shape: n.weight.shape), bias: Tensor(zeros: n.bias.shape))
        }
        let w = weights
        let fanIn = Double(w.patchEmbed.inFeatures)
        let bound = 1 / fanIn.squareRoot()
        let postInit: Float = c.postNorm ? 1e-5 : 1
        var out = ViTWeights(
            patchEmbed: Linear(weight: tensor(w.patchEmbed.weight.shape) { (g.uniform() * 2 - 1) * bound },
                               bias: w.patchEmbed.bias.map { b in tensor(b.shape) { (g.uniform() * 2 - 1) * bound } }),
            clsToken: w.clsToken.map { t in tensor(t.shape) { g.normal() * 1e-6 } },
            distToken: w.distToken.map { t in tensor(t.shape) { g.truncatedNormal(std: 0.02) } },
            regToken: w.regToken.map { t in tensor(t.shape) { g.normal() * 1e-6 } },
            posEmbed: tensor(w.posEmbed.shape) { g.truncatedNormal(std: 0.02) },
            normPre: w.normPre.map { norm($0) },
            blocks: [],
            norm: w.norm.map { norm($0) },
            head: linear(w.head),
            headDist: w.headDist.map(linear))
        out.blocks = w.blocks.map { b in
            BlockWeights(norm1: norm(b.norm1, weight: postInit), qkv: linear(b.qkv), proj: linear(b.proj),
                         norm2: norm(b.norm2, weight: postInit), fc1: linear(b.fc1), fc2: linear(b.fc2),
                         ls1: b.ls1.map { Tensor([Float](repeating: 1e-5, count: $0.count), shape: $0.shape) },
                         ls2: b.ls2.map { Tensor([Float](repeating: 1e-5, count: $0.count), shape: $0.shape) })
        }
        return ViT(config: c, weights: out, source: "\(source) (random weights, seed \(seed))")
    }
}
